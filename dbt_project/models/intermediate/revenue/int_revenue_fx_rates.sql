{#-
  The rate that converts each currency's MRR to the reporting currency, per month (SEMANTICS.md "Money",
  "Revenue (MRR)"). One row per currency that has revenue x month, from the currency's first month with a
  change of MRR through the reporting month (the UTC month of the billing clock).

  A month's rate is the newest rate of seed fx_rates (currency -> reporting currency) dated on or before the
  first day of the month: MRR is a monthly amount, and the monthly period it stands for starts on the first
  (for calendar-monthly plans this is the service-period start SEMANTICS.md names; an annual plan's MRR is
  twelve monthly amounts, each converted at its month's rate). The reporting currency is the dbt var
  revenue_reporting_currency (default USD); its own rate is 1. A currency without a rate on or before a month
  stops the build with an error naming the currency and the month (add a row to seeds/fx_rates.csv).
-#}
{%- set reporting = var('revenue_reporting_currency') %}
with

changes as (select currency, month from {{ ref('int_mrr_changes') }}),

bounds as (
    select
        currency,
        cast(strptime(min(month) || '-01', '%Y-%m-%d') as date) as first_month_start,
        cast(date_trunc('month', {{ clock() }}) as date) as last_month_start
    from changes
    group by currency
),

months as (
    select
        b.currency,
        cast(m.month_start as date) as month_start_date
    from bounds as b,
        unnest(generate_series(
            cast(b.first_month_start as timestamp), cast(b.last_month_start as timestamp), interval 1 month
        )) as m(month_start)
),

rates as (
    select rate_date, currency, cast(rate as decimal(38, 12)) as rate
    from {{ ref('fx_rates') }}
    where reporting_currency = '{{ reporting }}'
),

looked_up as (
    select
        m.currency,
        m.month_start_date,
        r.rate_date,
        r.rate
    from months as m
    asof left join rates as r
        on r.currency = m.currency and m.month_start_date >= r.rate_date
)

select
    currency,
    strftime(month_start_date, '%Y-%m') as month,
    month_start_date,
    '{{ reporting }}' as reporting_currency,
    case
        when currency = '{{ reporting }}' then cast(1 as decimal(38, 12))
        when rate is null
            then error('int_revenue_fx_rates: no ' || currency || ' -> {{ reporting }} rate on or before '
                       || strftime(month_start_date, '%Y-%m-%d')
                       || ': add one to dbt_project/seeds/fx_rates.csv (rate_date, currency, reporting_currency, rate)')
        else rate
    end as fx_rate,
    case when currency = '{{ reporting }}' then null else rate_date end as rate_date
from looked_up
