{#- Each plan's base fee per pricing scenario: 'live' (the catalog) and every DIR/scenarios/*.yml. -#}
with

live as (
    select
        'live' as scenario, plan_code, plan_code as scenario_plan_code, amount_cents, minimum_commitment_cents
    from {{ ref('stg_catalog__plans') }}
),

scenarios as (
    select scenario, live_plan_code as plan_code, scenario_plan_code, amount_cents, minimum_commitment_cents
    from {{ source('raw', 'scenario_plans') }}
)

select * from live
union all
select * from scenarios
