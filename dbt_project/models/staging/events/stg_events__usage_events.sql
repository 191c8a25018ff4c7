{#- One row per landed input row, typed. `as_of_loaded_at` rebuilds the warehouse as it stood at a past load. -#}
with

source as (
    select * from {{ source('raw', 'events') }}
    {{ as_of_filter() }}
),

renamed as (
    select
        ----------  ids
        load_id,
        row_number,
        file_name,
        customer_id,
        event_id,
        subscription_id,
        metric_code,
        correction_of,
        correction_type,
        payload_hash,
        ----------  payload
        properties,
        ----------  timestamps
        event_at,
        loaded_at
    from source
)

select * from renamed
