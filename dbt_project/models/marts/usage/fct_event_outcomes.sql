{#-
  Exactly one outcome per landed event (SEMANTICS.md "Accounting identity"):
  duplicate | conflict | superseded | correction | correction_orphan     (dedupe and corrections)
  unmatched_metric | unmatched_customer | no_active_subscription | ambiguous_subscription | invalid_value
  billed | late_adjusted (billed after its invoice was issued: loaded after that invoice's cut-off).
  An outcome can change as data arrives; the identity holds at every build. A view: it is always current
  and costs nothing to keep.
-#}
{{ config(materialized='view') }}
with

attributed as (select * from {{ ref('int_usage_events_attributed') }}),

issued_windows as (
    select service_window_id, min(cutoff_loaded_at) as cutoff_loaded_at
    from {{ ref('fct_billing_ledger') }}
    where fee_type = 'charge' and line_kind = 'fee'
    group by service_window_id
)

select
    a.load_id,
    a.row_number,
    a.customer_id,
    a.event_id,
    a.metric_code,
    a.service_window_id,
    case
        when a.correction_outcome is not null then a.correction_outcome
        when a.attribution_outcome = 'billed' and a.loaded_at > iw.cutoff_loaded_at then 'late_adjusted'
        else a.attribution_outcome
    end as outcome,
    a.event_at,
    a.loaded_at
from attributed as a
left join issued_windows as iw on iw.service_window_id = a.service_window_id
