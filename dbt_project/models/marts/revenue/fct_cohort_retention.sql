{#-
  Cohort retention (SEMANTICS.md "Revenue (MRR)"): one row per cohort x months since. A customer's cohort is
  the month it became a paying customer (its new_business movement: the service month of its first paid
  invoice line); reactivated customers stay in their cohort. At k months after the cohort's month:
    customers_retained   cohort customers active at the month's end (a customer at zero MRR still subscribed
                         is active)
    mrr_retained         their MRR at the month's end
    customer_retention   customers_retained / cohort_customers
    mrr_retention        mrr_retained / cohort_new_business_mrr (the cohort's new-business MRR)
  Amounts are in the reporting currency, FX-neutral within a cohort: every month of a cohort is converted at
  the cohort month's rate, so exchange rates do not show as retention.
-#}
with

mrr as (select * from {{ ref('fct_mrr') }}),

members as (
    select
        customer_id,
        cohort_month,
        month_start_date as cohort_start_date,
        reporting_currency,
        fx_rate as cohort_fx_rate,
        {{ to_reporting('new_business_cents', 'fx_rate', 'minor_unit_exponent') }} as new_business_mrr
    from mrr
    where month = cohort_month
),

cohorts as (
    select
        cohort_month,
        any_value(reporting_currency) as reporting_currency,
        count(*) as cohort_customers,
        sum(new_business_mrr) as cohort_new_business_mrr
    from members
    group by cohort_month
),

retained as (
    select
        b.cohort_month,
        date_diff('month', b.cohort_start_date, m.month_start_date) as months_since,
        any_value(m.month) as month,
        bool_and(m.is_final) as is_final,
        count(*) filter (where m.is_active) as customers_retained,
        sum({{ to_reporting('m.mrr_cents', 'b.cohort_fx_rate', 'm.minor_unit_exponent') }}) as mrr_retained
    from members as b
    inner join mrr as m on m.customer_id = b.customer_id and m.month >= b.cohort_month
    group by b.cohort_month, months_since
)

select
    r.cohort_month,
    r.months_since,
    r.month,
    c.reporting_currency,
    r.is_final,
    c.cohort_customers,
    r.customers_retained,
    c.cohort_new_business_mrr,
    r.mrr_retained,
    {{ div_exact('r.customers_retained', 'c.cohort_customers') }} as customer_retention,
    {{ ratio_exact('r.mrr_retained', 'c.cohort_new_business_mrr') }} as mrr_retention
from retained as r
inner join cohorts as c using (cohort_month)
