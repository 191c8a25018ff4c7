with

source as (select * from {{ source('raw', 'customers') }}),

renamed as (
    select
        external_customer_id as customer_id,
        name as customer_name,
        currency,
        timezone,
        billing_time,
        loaded_at
    from source
)

select * from renamed
