with

source as (select * from {{ source('raw', 'subscription_changes') }}),

renamed as (
    select
        external_subscription_id as subscription_id,
        plan_code,
        changed_at,
        loaded_at
    from source
)

select * from renamed
