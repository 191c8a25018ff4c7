{#- Stripe refunds, the current version of each. -#}
with

source as (select * from {{ source('stripe', 'stripe_refunds') }}),

renamed as (
    select
        id as stripe_refund_id,
        charge as stripe_charge_id,
        status as refund_status,
        reason,
        upper(currency) as currency,
        amount as amount_cents,
        created as created_at,
        loaded_at
    from source
)

select * from renamed
