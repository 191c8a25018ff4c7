{#- Stripe prices, the current version of each. plan_code: lookup_key, else metadata.meterhouse_plan_code.
    unit_amount_decimal: the exact unit amount in minor units, as a decimal. usage_type: licensed or metered
    (recurring prices). -#}
with

source as (select * from {{ source('stripe', 'stripe_prices') }}),

renamed as (
    select
        id as stripe_price_id,
        product as stripe_product_id,
        active as is_active,
        upper(currency) as currency,
        type as price_type,
        unit_amount as unit_amount_cents,
        try_cast(unit_amount_decimal as {{ quantity_type() }}) as unit_amount_decimal,
        recurring_interval,
        recurring_interval_count,
        json_extract_string(object_json, '$.recurring.usage_type') as usage_type,
        lookup_key,
        plan_code,
        created as created_at,
        deleted as is_deleted,
        loaded_at
    from source
)

select * from renamed
