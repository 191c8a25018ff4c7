with

source as (select * from {{ source('raw', 'charges') }}),

renamed as (
    select
        charge_id,
        plan_code,
        billable_metric_code,
        charge_model,
        invoice_display_name,
        properties,
        {#- prices are decimal strings in the catalog: typed once, exactly -#}
        cast(json_extract_string(properties, '$.amount') as {{ quantity_type() }}) as standard_amount,
        coalesce(
            cast(json_extract(properties, '$.pricing_group_keys') as varchar[]), []
        ) as pricing_group_keys,
        charge_order,
        min_amount_cents,
        pay_in_advance as is_pay_in_advance,
        invoiceable as is_invoiceable,
        prorated as is_prorated
    from source
)

select * from renamed
