-- Chargebacks by the day they were reported, one row per reported transaction (the first report).
with source as (
    select * from {{ source('lake', 'raw_fraud_reports') }}
    where {{ in_run_window() }}
),

first_report as (
    select
        cast(transaction_id as bigint) as transaction_id,
        cast(customer_id as bigint) as customer_id,
        cast(tx_datetime as timestamp) as tx_datetime,
        cast(reported_at as timestamp) as reported_at,
        report_id,
        partition_date
    from source
    qualify row_number() over (partition by transaction_id order by reported_at, report_id) = 1
)

select * from first_report
