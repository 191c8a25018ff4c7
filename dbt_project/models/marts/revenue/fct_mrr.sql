{#-
  MRR per customer and month (SEMANTICS.md "Revenue (MRR)", ChartMogul's definitions); see
  _revenue__models.yml for every column. One row per customer x month from the customer's first month with
  MRR in force (or a line starting) through the reporting month (the UTC month of the billing clock), churned
  months included at zero. Months are the customer's local months (its billing timezone); the MRR of a month
  is what is in force at its end, in the customer's currency (minor units) and in the reporting currency at
  the month's rate (int_revenue_fx_rates). The month's movements are the sums of fct_mrr_movements; FX impact
  = the previous month's MRR x (this month's rate - the previous month's), so
  mrr_reporting - previous_mrr_reporting = sum of the movements (reporting) + fx_impact_reporting.
  Rebuilt on every run (late usage can still change a past month); is_final says when a month stands.
-#}
with

changes as (select * from {{ ref('int_mrr_changes') }}),

rates as (
    select
        *,
        lag(fx_rate) over (partition by currency order by month) as previous_fx_rate
    from {{ ref('int_revenue_fx_rates') }}
),

customers as (
    select
        customer_id,
        any_value(currency) as currency,
        any_value(minor_unit_exponent) as minor_unit_exponent,
        any_value(timezone) as timezone,
        min(month) as first_month
    from changes
    group by customer_id
),

grid as (
    select
        c.customer_id,
        c.currency,
        c.minor_unit_exponent,
        c.timezone,
        r.month,
        r.month_start_date,
        r.reporting_currency,
        r.fx_rate,
        coalesce(r.previous_fx_rate, r.fx_rate) as previous_fx_rate
    from customers as c
    inner join rates as r on r.currency = c.currency and r.month >= c.first_month
),

month_end_levels as (
    select
        customer_id,
        month,
        arg_max(committed_mrr_cents, change_no) as committed_mrr_cents,
        arg_max(usage_mrr_cents, change_no) as usage_mrr_cents,
        arg_max(is_active, change_no) as is_active,
        bool_or(is_active) as was_active_in_month
    from changes
    group by customer_id, month
),

movement_sums as (
    select
        customer_id,
        month,
        sum(mrr_change_cents) filter (where movement_type = 'new_business') as new_business_cents,
        sum(mrr_change_cents) filter (where movement_type = 'expansion') as expansion_cents,
        sum(mrr_change_cents) filter (where movement_type = 'contraction') as contraction_cents,
        sum(mrr_change_cents) filter (where movement_type = 'churn') as churn_cents,
        sum(mrr_change_cents) filter (where movement_type = 'reactivation') as reactivation_cents
    from changes
    group by customer_id, month
),

cash as (
    select
        k.customer_id,
        {{ local_month('k.occurred_at', 'c.timezone') }} as month,
        sum(k.amount_cents) filter (where k.cash_kind = 'refund') as refunded_cents,
        sum(k.amount_cents) filter (where k.cash_kind = 'credit_note') as credited_cents
    from {{ ref('int_revenue_cash') }} as k
    inner join customers as c on c.customer_id = k.customer_id and c.currency = k.currency
    group by all
),

filled as (
    select
        g.*,
        {{ local_month_start_at('g.month', 'g.timezone') }} as month_start_at,
        {{ local_month_start_at('g.month', 'g.timezone', 1) }} as month_end_at,
        coalesce(last_value(l.committed_mrr_cents ignore nulls) over by_month, 0) as committed_mrr_cents,
        coalesce(last_value(l.usage_mrr_cents ignore nulls) over by_month, 0) as usage_mrr_cents,
        coalesce(last_value(l.is_active ignore nulls) over by_month, false) as is_active,
        coalesce(l.was_active_in_month, false) as was_active_in_month
    from grid as g
    left join month_end_levels as l using (customer_id, month)
    window by_month as (partition by g.customer_id order by g.month rows unbounded preceding)
),

{#- final: the month has ended (by the billing clock) and every line in force during it is issued -#}
finality as (
    select
        f.customer_id,
        f.month,
        coalesce(bool_and(l.is_issued), true) as lines_issued
    from filled as f
    left join {{ ref('int_revenue_lines') }} as l
        on l.customer_id = f.customer_id
       and l.in_force_from_at < f.month_end_at
       and l.in_force_to_at > f.month_start_at
       and l.in_force_from_at < l.in_force_to_at
    group by f.customer_id, f.month
),

measured as (
    select
        f.*,
        f.committed_mrr_cents + f.usage_mrr_cents as mrr_cents,
        coalesce(lag(f.committed_mrr_cents + f.usage_mrr_cents) over by_month, 0) as previous_mrr_cents,
        coalesce(lag(f.is_active) over by_month, false) as was_active,
        bool_or(f.was_active_in_month) over (partition by f.customer_id order by f.month rows unbounded preceding)
            as has_been_active,
        {#- the month it first became active: its new business (a customer that churned within that month too
            belongs to it) -#}
        min(f.month) filter (where f.was_active_in_month) over (partition by f.customer_id) as cohort_month,
        coalesce(m.new_business_cents, 0) as new_business_cents,
        coalesce(m.expansion_cents, 0) as expansion_cents,
        coalesce(m.contraction_cents, 0) as contraction_cents,
        coalesce(m.churn_cents, 0) as churn_cents,
        coalesce(m.reactivation_cents, 0) as reactivation_cents,
        coalesce(k.refunded_cents, 0) as refunded_cents,
        coalesce(k.credited_cents, 0) as credited_cents,
        fin.lines_issued and f.month_end_at <= {{ clock() }} as is_final
    from filled as f
    left join movement_sums as m using (customer_id, month)
    left join cash as k using (customer_id, month)
    inner join finality as fin using (customer_id, month)
    window by_month as (partition by f.customer_id order by f.month)
)


select
    customer_id,
    month,
    month_start_date,
    month_start_at,
    month_end_at,
    currency,
    minor_unit_exponent,
    timezone,
    case when is_active then 'active' when has_been_active then 'churned' else 'prospect' end as customer_status,
    is_active,
    was_active,
    cohort_month,
    committed_mrr_cents,
    usage_mrr_cents,
    mrr_cents,
    previous_mrr_cents,
    mrr_cents - previous_mrr_cents as mrr_change_cents,
    new_business_cents,
    expansion_cents,
    contraction_cents,
    churn_cents,
    reactivation_cents,
    refunded_cents,
    credited_cents,
    reporting_currency,
    fx_rate,
    previous_fx_rate,
    {{ to_reporting('committed_mrr_cents') }} as committed_mrr_reporting,
    {{ to_reporting('usage_mrr_cents') }} as usage_mrr_reporting,
    {{ to_reporting('mrr_cents') }} as mrr_reporting,
    {{ to_reporting('previous_mrr_cents', 'previous_fx_rate') }} as previous_mrr_reporting,
    {{ to_reporting('new_business_cents') }} as new_business_reporting,
    {{ to_reporting('expansion_cents') }} as expansion_reporting,
    {{ to_reporting('contraction_cents') }} as contraction_reporting,
    {{ to_reporting('churn_cents') }} as churn_reporting,
    {{ to_reporting('reactivation_cents') }} as reactivation_reporting,
    {{ to_reporting('previous_mrr_cents', '(fx_rate - previous_fx_rate)') }} as fx_impact_reporting,
    is_final
from measured
