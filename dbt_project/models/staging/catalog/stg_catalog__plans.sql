with

source as (select * from {{ source('raw', 'plans') }}),

renamed as (
    select
        code as plan_code,
        name as plan_name,
        interval as plan_interval,
        amount_currency as currency,
        amount_cents,
        trial_period as trial_period_days,
        {#- what a year of the base fee costs, to tell an upgrade from a downgrade -#}
        amount_cents * case interval
            when 'weekly' then 52 when 'monthly' then 12 when 'quarterly' then 4 else 1
        end as yearly_amount_cents,
        pay_in_advance as is_pay_in_advance,
        minimum_commitment_cents,
        loaded_at
    from source
)

select * from renamed
