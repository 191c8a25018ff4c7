{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}
{#-
  Append-only record of issued invoice lines (SEMANTICS.md "Invoices: issue, finality"). An invoice is
  issued once every line's issue instant + the grace period has passed the billing clock; its lines are
  copied here with the load-time cut-off used (the newest load at that moment) and never change again.
  Rebuilding from raw events with `as_of_loaded_at` = that cut-off reproduces them exactly.
  `issue_month_from` / `issue_month_to` (YYYY-MM, inclusive) limit a run to the billing months of the Dagster
  partitions it runs for (billing month = UTC month of the invoice's issue instant, its period's end).
-#}
with

lines as (select * from {{ ref('fct_invoice_lines') }}),

due_invoices as (
    select invoice_id
    from lines
    group by invoice_id
    having bool_and(is_due)
    {% if var('issue_month_from') %}
        and max(billing_month) >= '{{ var("issue_month_from") }}'
    {% endif %}
    {% if var('issue_month_to') %}
        and max(billing_month) <= '{{ var("issue_month_to") }}'
    {% endif %}
),

cutoff as (
    select coalesce(max(loaded_at), cast('1970-01-01' as timestamp)) as cutoff_loaded_at
    from {{ ref('stg_events__event_loads') }}
)

select
    lines.* exclude (is_due),
    max(lines.billing_month) over (partition by lines.invoice_id) as invoice_billing_month,
    cutoff.cutoff_loaded_at,
    {{ clock() }} as issued_at
from lines
inner join due_invoices using (invoice_id)
cross join cutoff
{% if is_incremental() %}
where lines.invoice_id not in (select invoice_id from {{ this }})
{% endif %}
