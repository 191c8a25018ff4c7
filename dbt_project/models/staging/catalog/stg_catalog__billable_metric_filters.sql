with

source as (select * from {{ source('raw', 'billable_metric_filters') }}),

renamed as (
    select
        billable_metric_code,
        key as filter_key,
        cast("values" as varchar[]) as filter_values
    from source
)

select * from renamed
