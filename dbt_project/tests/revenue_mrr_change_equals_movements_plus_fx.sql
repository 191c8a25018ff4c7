{#-
  The revenue invariant (SEMANTICS.md "Revenue (MRR)") per customer and month: the change of MRR between the
  ends of two months (fct_mrr's levels) is the sum of the month's movements (fct_mrr_movements) plus the FX
  impact, in the customer's currency (minor units) and in the reporting currency (exact). Every movement
  belongs to a month of fct_mrr. Failing rows show the customer, the month and both sides.
-#}
with

levels as (
    select
        customer_id,
        month,
        mrr_cents - previous_mrr_cents as change_cents,
        mrr_reporting - previous_mrr_reporting as change_reporting,
        fx_impact_reporting
    from {{ ref('fct_mrr') }}
),

moved as (
    select customer_id, month, sum(amount_cents) as moved_cents, sum(amount_reporting) as moved_reporting
    from {{ ref('fct_mrr_movements') }}
    group by customer_id, month
)

select
    coalesce(l.customer_id, m.customer_id) as customer_id,
    coalesce(l.month, m.month) as month,
    l.change_cents,
    m.moved_cents,
    l.change_reporting,
    m.moved_reporting,
    l.fx_impact_reporting
from levels as l
full join moved as m using (customer_id, month)
where l.customer_id is null
   or l.change_cents <> coalesce(m.moved_cents, 0)
   or l.change_reporting <> coalesce(m.moved_reporting, 0) + l.fx_impact_reporting
