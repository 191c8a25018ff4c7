{#-
  The revenue invariant per month, on the KPIs: MRR[m] - MRR[m-1] = the month's movements + FX impact, where
  MRR[m-1] is the previous KPI row's MRR (0 before the first month). Failing rows show the month and both sides.
-#}
with

kpis as (
    select
        *,
        coalesce(lag(mrr) over (order by month), 0) as previous_month_mrr
    from {{ ref('fct_revenue_kpis') }}
)

select
    month,
    mrr,
    previous_month_mrr,
    mrr_at_start,
    new_business_mrr + expansion_mrr + contraction_mrr + churn_mrr + reactivation_mrr as movements,
    fx_impact
from kpis
where mrr - previous_month_mrr
      <> new_business_mrr + expansion_mrr + contraction_mrr + churn_mrr + reactivation_mrr + fx_impact
   or mrr_at_start <> previous_month_mrr
