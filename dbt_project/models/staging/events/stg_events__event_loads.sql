with

source as (
    select * from {{ source('raw', 'event_loads') }}
    {% if var('as_of_loaded_at') %}
    where loaded_at <= cast('{{ var("as_of_loaded_at") }}' as timestamp)
    {% endif %}
),

renamed as (
    select
        load_id,
        batch_id,
        file_name,
        file_sha256,
        file_format,
        file_bytes,
        rows_read,
        rows_landed,
        rows_quarantined,
        loaded_at
    from source
)

select * from renamed
