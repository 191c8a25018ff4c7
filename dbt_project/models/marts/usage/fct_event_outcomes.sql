{#-
  Exactly one outcome per landed event (SEMANTICS.md "Accounting identity"):
  duplicate | conflict | superseded | correction | correction_orphan     (dedupe and corrections)
  unmatched_metric | unmatched_customer | no_active_subscription | ambiguous_subscription | invalid_value
  billed | late_adjusted (billed after its invoice was issued: loaded after that invoice's cut-off).
  An outcome can change as data arrives; the identity holds at every build.
-#}
with

corrected as (select * from {{ ref('int_usage_events_corrected') }}),

attributed as (select * from {{ ref('int_usage_events_attributed') }}),

issued_windows as (
    select service_window_id, min(cutoff_loaded_at) as cutoff_loaded_at
    from {{ ref('fct_issued_invoice_lines') }}
    where fee_type = 'charge' and line_kind = 'fee'
    group by service_window_id
),

outcomes as (
    select
        c.load_id,
        c.row_number,
        c.customer_id,
        c.event_id,
        c.metric_code,
        a.service_window_id,
        case
            when c.correction_outcome is not null then c.correction_outcome
            when a.attribution_outcome = 'billed' and c.loaded_at > iw.cutoff_loaded_at then 'late_adjusted'
            else a.attribution_outcome
        end as outcome,
        c.event_at,
        c.loaded_at
    from corrected as c
    left join attributed as a using (load_id, row_number)
    left join issued_windows as iw on iw.service_window_id = a.service_window_id
)

select * from outcomes
