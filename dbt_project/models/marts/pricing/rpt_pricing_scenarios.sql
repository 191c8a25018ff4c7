{#-
  Pricing experiments: what each customer would have been billed under each scenario (DIR/scenarios/*.yml)
  next to what the live catalog bills, per customer x live plan x billing month x currency, from the one
  rating pass of int_charge_amounts / int_fees (scenario column). Amounts are the invoice lines' rounded
  amounts (minor units), before issue: the live figures are the fees as the data stands now, so they
  include usage that arrived after an invoice was issued. Never read by invoicing or publishing.
-#}
with

fees as (
    select
        scenario,
        customer_id,
        plan_code,
        billing_month,
        currency,
        sum(amount_cents) as amount_cents,
        coalesce(sum(amount_cents) filter (where fee_type = 'subscription'), 0) as base_fee_cents,
        coalesce(sum(amount_cents) filter (where fee_type <> 'subscription'), 0) as usage_cents,
        count(*) as lines_count
    from {{ ref('int_fees') }}
    where is_invoiceable
    group by all
),

live as (select * from fees where scenario = 'live'),

scenarios as (
    select
        s.scenario,
        p.plan_code,
        p.scenario_plan_code
    from {{ source('raw', 'scenarios') }} as s
    inner join {{ ref('stg_catalog__scenario_plans') }} as p using (scenario)
),

keys as (
    select sc.scenario, sc.scenario_plan_code, l.customer_id, l.plan_code, l.billing_month, l.currency
    from live as l
    inner join scenarios as sc using (plan_code)
)

select
    k.scenario,
    k.customer_id,
    k.plan_code,
    k.scenario_plan_code,
    k.billing_month,
    k.currency,
    coalesce(f.amount_cents, 0) as amount_cents,
    coalesce(f.base_fee_cents, 0) as base_fee_cents,
    coalesce(f.usage_cents, 0) as usage_cents,
    l.amount_cents as live_amount_cents,
    l.base_fee_cents as live_base_fee_cents,
    l.usage_cents as live_usage_cents,
    coalesce(f.amount_cents, 0) - l.amount_cents as change_cents
from keys as k
inner join live as l using (customer_id, plan_code, billing_month, currency)
left join fees as f
    on f.scenario = k.scenario
    and f.customer_id = k.customer_id
    and f.plan_code = k.plan_code
    and f.billing_month = k.billing_month
    and f.currency = k.currency
