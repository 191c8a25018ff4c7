{#- Items of Stripe subscriptions (their subscription's current version). plan_code: the catalog plan
    code of the item's price as embedded when the version was read (lookup_key, else the price's
    metadata.meterhouse_plan_code); stg_stripe__prices has the current price's. -#}
with

source as (select * from {{ source('stripe', 'stripe_subscription_items') }}),

renamed as (
    select
        id as stripe_subscription_item_id,
        subscription as stripe_subscription_id,
        customer as stripe_customer_id,
        price as stripe_price_id,
        product as stripe_product_id,
        lookup_key,
        plan_code,
        quantity,
        current_period_start as current_period_start_at,
        current_period_end as current_period_end_at,
        created as created_at,
        loaded_at
    from source
)

select * from renamed
