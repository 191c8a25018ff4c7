with

source as (select * from {{ source('raw', 'billable_metrics') }}),

renamed as (
    select
        code as billable_metric_code,
        name as billable_metric_name,
        aggregation_type,
        field_name,
        rounding_function,
        rounding_precision,
        recurring as is_recurring,
        loaded_at
    from source
)

select * from renamed
