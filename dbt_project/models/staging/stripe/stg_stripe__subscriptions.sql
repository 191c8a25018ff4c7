{#- Stripe subscriptions, the current version of each. -#}
with

source as (select * from {{ source('stripe', 'stripe_subscriptions') }}),

renamed as (
    select
        id as stripe_subscription_id,
        customer as stripe_customer_id,
        status as subscription_status,
        upper(currency) as currency,
        collection_method,
        start_date as started_at,
        cancel_at,
        cancel_at_period_end,
        canceled_at,
        ended_at,
        items_total_count as items_count,
        created as created_at,
        deleted as is_deleted,
        loaded_at
    from source
)

select * from renamed
