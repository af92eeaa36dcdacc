-- Card transactions of the window: typed, renamed, one row per transaction id.
with source as (
    select * from {{ source('lake', 'raw_transactions') }}
    where {{ in_run_window() }}
),

typed as (
    select
        cast(transaction_id as bigint) as transaction_id,
        cast(tx_datetime as timestamp) as tx_datetime,
        cast(customer_id as bigint) as customer_id,
        cast(terminal_id as bigint) as terminal_id,
        cast(tx_amount as double) as tx_amount,
        partition_date
    from source
),

deduplicated as (
    select * from typed
    qualify row_number() over (partition by transaction_id order by tx_datetime) = 1
)

select * from deduplicated
