{#-
  Revenue KPIs per month in the reporting currency (SEMANTICS.md "Revenue (MRR)", ChartMogul's definitions);
  every column is described in _revenue__models.yml. Levels (MRR, customers, FX impact) come from fct_mrr, the
  movements from fct_mrr_movements. Rates are fractions (0.25 = 25 %), DECIMAL(38, 12), null when their
  denominator is 0. Contraction and churn amounts are negative (movements are signed); the formulas use
  their size:
    customer_churn_rate   = churned customers / customers at start
    gross_mrr_churn_rate  = (churn + contraction) / MRR at start
    net_mrr_churn_rate    = (churn + contraction - expansion - reactivation) / MRR at start
    nrr                   = (MRR at start + expansion - contraction - churn) / MRR at start
    grr                   = (MRR at start - contraction - churn) / MRR at start
    nrr_trailing_12m      = the customers paying (MRR > 0) at the end of the month 12 months before: their
                            MRR now / their MRR then; grr_trailing_12m caps each customer's now at its then.
                            Both are FX-neutral: now and then are converted at this month's rate.
-#}
{%- set zero = 'cast(0 as ' ~ precise_type() ~ ')' %}
with

mrr as (select * from {{ ref('fct_mrr') }}),

movements as (select * from {{ ref('fct_mrr_movements') }}),

levels as (
    select
        month,
        any_value(month_start_date) as month_start_date,
        any_value(reporting_currency) as reporting_currency,
        bool_and(is_final) as is_final,
        sum(mrr_reporting) as mrr,
        sum(committed_mrr_reporting) as committed_mrr,
        sum(usage_mrr_reporting) as usage_mrr,
        sum(previous_mrr_reporting) as mrr_at_start,
        sum(fx_impact_reporting) as fx_impact,
        count(*) filter (where is_active) as customers,
        count(*) filter (where was_active) as customers_at_start
    from mrr
    group by month
),

moved as (
    select
        month,
        sum(amount_reporting) filter (where movement_type = 'new_business') as new_business_mrr,
        sum(amount_reporting) filter (where movement_type = 'expansion') as expansion_mrr,
        sum(amount_reporting) filter (where movement_type = 'contraction') as contraction_mrr,
        sum(amount_reporting) filter (where movement_type = 'churn') as churn_mrr,
        sum(amount_reporting) filter (where movement_type = 'reactivation') as reactivation_mrr,
        count(distinct customer_id) filter (where movement_type = 'new_business') as new_customers,
        count(distinct customer_id) filter (where movement_type = 'churn') as churned_customers,
        count(distinct customer_id) filter (where movement_type = 'reactivation') as reactivated_customers,
        count(distinct customer_id) filter (where movement_type = 'expansion') as expanded_customers,
        count(distinct customer_id) filter (where movement_type = 'contraction') as contracted_customers
    from movements
    group by month
),

{#- trailing 12 months: the customers paying 12 months before, now and then at this month's rate -#}
trailing_year as (
    select
        cur.month,
        count(*) as customers_12m_ago,
        sum({{ to_reporting('ago.mrr_cents', 'cur.fx_rate', 'cur.minor_unit_exponent') }}) as mrr_12m_ago,
        sum({{ to_reporting('cur.mrr_cents', 'cur.fx_rate', 'cur.minor_unit_exponent') }}) as retained_mrr_12m,
        sum({{ to_reporting('least(cur.mrr_cents, ago.mrr_cents)', 'cur.fx_rate', 'cur.minor_unit_exponent') }})
            as retained_mrr_12m_capped
    from mrr as cur
    inner join mrr as ago
        on ago.customer_id = cur.customer_id
       and ago.month_start_date = cast(cur.month_start_date - interval 12 month as date)
    where ago.is_active and ago.mrr_cents > 0
    group by cur.month
),

kpis as (
    select
        l.month,
        l.month_start_date,
        l.reporting_currency,
        l.is_final,
        l.mrr,
        l.committed_mrr,
        l.usage_mrr,
        cast(l.mrr * 12 as {{ precise_type() }}) as arr,
        l.customers,
        l.customers_at_start,
        l.mrr_at_start,
        coalesce(m.new_business_mrr, {{ zero }}) as new_business_mrr,
        coalesce(m.expansion_mrr, {{ zero }}) as expansion_mrr,
        coalesce(m.contraction_mrr, {{ zero }}) as contraction_mrr,
        coalesce(m.churn_mrr, {{ zero }}) as churn_mrr,
        coalesce(m.reactivation_mrr, {{ zero }}) as reactivation_mrr,
        l.fx_impact,
        coalesce(m.new_customers, 0) as new_customers,
        coalesce(m.churned_customers, 0) as churned_customers,
        coalesce(m.reactivated_customers, 0) as reactivated_customers,
        coalesce(m.expanded_customers, 0) as expanded_customers,
        coalesce(m.contracted_customers, 0) as contracted_customers,
        coalesce(t.customers_12m_ago, 0) as customers_12m_ago,
        t.mrr_12m_ago,
        t.retained_mrr_12m,
        t.retained_mrr_12m_capped
    from levels as l
    left join moved as m using (month)
    left join trailing_year as t using (month)
)

select
    month,
    month_start_date,
    reporting_currency,
    is_final,
    mrr,
    committed_mrr,
    usage_mrr,
    arr,
    customers,
    case when customers = 0 then null else {{ div_exact('cast(mrr as decimal(38, 12))', 'customers') }} end as arpa,
    customers_at_start,
    mrr_at_start,
    new_business_mrr,
    expansion_mrr,
    contraction_mrr,
    churn_mrr,
    reactivation_mrr,
    fx_impact,
    cast(mrr - mrr_at_start as {{ precise_type() }}) as net_mrr_change,
    new_customers,
    churned_customers,
    reactivated_customers,
    expanded_customers,
    contracted_customers,
    case when customers_at_start = 0 then null
        else {{ div_exact('churned_customers', 'customers_at_start') }} end as customer_churn_rate,
    {{ ratio_exact('-(churn_mrr + contraction_mrr)', 'mrr_at_start') }} as gross_mrr_churn_rate,
    {{ ratio_exact('-(churn_mrr + contraction_mrr + expansion_mrr + reactivation_mrr)', 'mrr_at_start') }}
        as net_mrr_churn_rate,
    {{ ratio_exact('mrr_at_start + expansion_mrr + contraction_mrr + churn_mrr', 'mrr_at_start') }} as nrr,
    {{ ratio_exact('mrr_at_start + contraction_mrr + churn_mrr', 'mrr_at_start') }} as grr,
    customers_12m_ago,
    mrr_12m_ago,
    retained_mrr_12m,
    {{ ratio_exact('retained_mrr_12m', 'mrr_12m_ago') }} as nrr_trailing_12m,
    {{ ratio_exact('retained_mrr_12m_capped', 'mrr_12m_ago') }} as grr_trailing_12m
from kpis
