{#-
  The price of each live charge per pricing scenario: 'live' (the catalog's own) and every scenario that
  bills it (a charge a scenario plan does not list has no row there: it is not billed in that scenario).
  charge_id is always the live charge's, so a scenario prices the live meters.
-#}
with

live as (
    select
        'live' as scenario,
        charge_id,
        charge_model,
        is_invoiceable,
        min_amount_cents,
        properties
    from {{ ref('stg_catalog__charges') }}
),

scenarios as (
    select
        scenario,
        live_charge_id as charge_id,
        charge_model,
        invoiceable as is_invoiceable,
        min_amount_cents,
        properties
    from {{ source('raw', 'scenario_charges') }}
)

select * from live
union all
select * from scenarios
