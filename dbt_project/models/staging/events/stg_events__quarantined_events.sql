with

source as (
    select * from {{ source('raw', 'quarantined_events') }}
    {% if var('as_of_loaded_at') %}
    where loaded_at <= cast('{{ var("as_of_loaded_at") }}' as timestamp)
    {% endif %}
),

renamed as (
    select
        load_id,
        row_number,
        file_name,
        reason as quarantine_reason,
        message as quarantine_message,
        payload,
        loaded_at
    from source
)

select * from renamed
