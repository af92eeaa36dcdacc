-- Customers per daily snapshot, pseudonymised: name and email dropped, the card number replaced
-- by a keyed hash (the key comes from MLPLATFORM_PII_KEY). PII never leaves the raw layer.
with source as (
    select * from {{ source('lake', 'raw_customers') }}
    where {{ in_run_window() }}
),

pseudonymised as (
    select
        cast(customer_id as bigint) as customer_id,
        sha256('{{ env_var("MLPLATFORM_PII_KEY", "demo-pii-key") }}' || card_number) as card_number_hash,
        cast(x as double) as customer_x,
        cast(y as double) as customer_y,
        cast(mean_amount as double) as mean_amount,
        cast(mean_nb_tx_per_day as double) as mean_nb_tx_per_day,
        partition_date
    from source
)

select * from pseudonymised
