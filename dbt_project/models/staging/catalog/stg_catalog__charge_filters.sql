with

source as (select * from {{ source('raw', 'charge_filters') }}),

renamed as (
    select
        filter_id,
        charge_id,
        invoice_display_name,
        filter_values,
        properties,
        cast(json_extract_string(properties, '$.amount') as {{ quantity_type() }}) as standard_amount,
        {#- the most specific filter (most keys) wins; file order breaks ties -#}
        len(json_keys(filter_values)) as filter_key_count,
        cast(split_part(filter_id, '#', -1) as integer) as filter_order
    from source
)

select * from renamed
