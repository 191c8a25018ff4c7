{#- Stripe customers, the current version of each (raw keeps one row per id). customer_id is the
    Meterhouse customer the Stripe customer stands for (metadata.meterhouse_customer_id, trimmed; null
    when missing or blank). Deleted customers stay, flagged. -#}
with

source as (select * from {{ source('stripe', 'stripe_customers') }}),

renamed as (
    select
        id as stripe_customer_id,
        nullif(trim(meterhouse_customer_id), '') as customer_id,
        email,
        name as customer_name,
        upper(currency) as currency,
        balance as balance_cents,
        created as created_at,
        deleted as is_deleted,
        stripe_updated_seq,
        version_no,
        loaded_at
    from source
)

select * from renamed
