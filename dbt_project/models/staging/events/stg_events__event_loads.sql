with

source as (
    select * from {{ source('raw', 'event_loads') }}
    {{ as_of_filter() }}
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
