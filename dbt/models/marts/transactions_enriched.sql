-- Transactions with the attributes of their customer and terminal on the same day's snapshot.
with transactions as (
    select * from {{ ref('stg_landing__transactions') }}
),

customers as (
    select * from {{ ref('stg_source_db__customers') }}
),

terminals as (
    select * from {{ ref('stg_source_db__terminals') }}
),

enriched as (
    select
        t.transaction_id,
        t.tx_datetime,
        t.customer_id,
        t.terminal_id,
        t.tx_amount,
        c.card_number_hash,
        c.mean_amount as customer_mean_amount,
        sqrt(power(c.customer_x - m.terminal_x, 2) + power(c.customer_y - m.terminal_y, 2)) as customer_terminal_distance,
        t.partition_date
    from transactions t
    left join customers c on c.customer_id = t.customer_id and c.partition_date = t.partition_date
    left join terminals m on m.terminal_id = t.terminal_id and m.partition_date = t.partition_date
)

select * from enriched
