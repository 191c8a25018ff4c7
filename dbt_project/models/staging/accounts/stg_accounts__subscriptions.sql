with

source as (select * from {{ source('raw', 'subscriptions') }}),

renamed as (
    select
        external_subscription_id as subscription_id,
        external_customer_id as customer_id,
        plan_code as initial_plan_code,
        started_at,
        ending_at,
        -- file: landing/subscriptions.csv; stripe: a Stripe subscription with a catalog plan code, whose
        -- base fee Stripe bills (Meterhouse bills its usage charges only)
        coalesce(source, 'file') as subscription_source,
        loaded_at
    from source
)

select * from renamed
