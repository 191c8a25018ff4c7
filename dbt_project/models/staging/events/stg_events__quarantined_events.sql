with

source as (
    select * from {{ source('raw', 'quarantined_events') }}
    {{ as_of_filter() }}
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
