{#-
  One row per customer movement (SEMANTICS.md "Revenue (MRR)", ChartMogul's definitions): new_business,
  expansion, contraction, churn, reactivation, with when it happened, its amount and the invoice lines that
  caused it (int_mrr_changes has the rules: changes within 60 minutes are one movement; churn is dated at
  the end of the last paid service period). In the customer's currency (minor units) and in the reporting
  currency at the rate of the movement's month (the "new" rate): FX impact is never a movement (fct_mrr).
  Movements up to the reporting month (the UTC month of the billing clock); rebuilt on every run.
-#}
with

changes as (select * from {{ ref('int_mrr_changes') }} where movement_type is not null),

rates as (select * from {{ ref('int_revenue_fx_rates') }})

select
    c.customer_id || '|' || strftime(c.changed_at, '%Y%m%dT%H%M%S') as movement_id,
    c.customer_id,
    c.movement_type,
    c.month,
    c.changed_at as movement_at,
    cast({{ to_local('c.changed_at', 'c.timezone') }} as date) as movement_date,
    c.last_changed_at,
    c.changes_count,
    c.currency,
    c.mrr_change_cents as amount_cents,
    c.committed_change_cents,
    c.usage_change_cents,
    c.previous_mrr_cents as mrr_before_cents,
    c.mrr_cents as mrr_after_cents,
    r.reporting_currency,
    r.fx_rate,
    {{ to_reporting('c.mrr_change_cents', 'r.fx_rate', 'c.minor_unit_exponent') }} as amount_reporting,
    c.started_line_ids,
    c.ended_line_ids
from changes as c
inner join rates as r using (currency, month)
