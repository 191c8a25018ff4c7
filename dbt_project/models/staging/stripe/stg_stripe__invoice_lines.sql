{#- Every line of every Stripe invoice (its invoice's current version). meterhouse_invoice_line_id
    (the line's metadata, set by the publisher) names the Meterhouse line it carries. unit_amount_decimal
    is Stripe's exact unit amount in minor units, as a decimal. -#}
with

source as (select * from {{ source('stripe', 'stripe_invoice_lines') }}),

renamed as (
    select
        id as stripe_invoice_line_id,
        invoice as stripe_invoice_id,
        line_position,
        customer as stripe_customer_id,
        upper(currency) as currency,
        amount as amount_cents,
        {#- what the line's discounts take off its amount (Stripe's amount is before discounts and tax) -#}
        coalesce(list_sum(cast(json_extract(object_json, '$.discount_amounts[*].amount') as bigint[])), 0)
            as discount_amount_cents,
        quantity,
        try_cast(unit_amount_decimal as {{ quantity_type() }}) as unit_amount_decimal,
        price as stripe_price_id,
        subscription as stripe_subscription_id,
        invoice_item as stripe_invoice_item_id,
        nullif(json_extract_string(object_json, '$.metadata.meterhouse_invoice_line_id'), '')
            as meterhouse_invoice_line_id,
        description,
        period_start as period_start_at,
        period_end as period_end_at,
        loaded_at
    from source
)

select * from renamed
