{#- The columns that describe a fee (what it is), carried onto every ledger line made from it. -#}
{% macro fee_descriptive_columns() -%}
    {{ return(['fee_id', 'customer_id', 'subscription_id', 'plan_code', 'service_window_id', 'fee_type',
               'charge_id', 'filter_id', 'group_key', 'billable_metric_code', 'charge_model', 'currency',
               'unit_amount', 'events_count', 'service_start_at', 'service_end_at', 'period_start_at',
               'period_end_at', 'timezone']) }}
{%- endmacro %}

{#-
  What issued invoices still owe or over-billed, per fee (SEMANTICS.md "Invoices: ... adjustments").
  For every fee already issued (its fee_id is in the ledger), compare what it is worth now with what the
  ledger billed for it so far (the original line + adjustment lines - credit note lines). A fee that
  appears only now on an invoice already issued (a new pricing group, say) counts as billed 0; a fee
  billed that no longer exists counts as worth 0.
    delta_cents > 0 : an adjustment line on the customer's next invoice
    delta_cents < 0 : a credit note line against the invoice that first billed the fee
  Used by the ledger itself (against its own past rows) and by the draft preview (against the ledger),
  so both always agree. Expands to CTEs ending in `deltas`.
-#}
{% macro billing_deltas(fees, ledger) %}
    {%- set cols = fee_descriptive_columns() %}
    billed as (
        select
            fee_id,
            any_value(original_invoice_id) as original_invoice_id,
            sum(case when document_type = 'credit_note' then -amount_cents else amount_cents end) as billed_cents,
            sum(case when document_type = 'credit_note' then -units else units end) as billed_units,
            sum(case when document_type = 'credit_note' then -precise_amount else precise_amount end)
                as billed_precise_amount
        from {{ ledger }}
        where fee_type <> 'credit'  {# prepaid credits are how an invoice is paid, not what it bills #}
        group by fee_id
    ),

    issued_invoice_ids as (
        select distinct document_id as invoice_id from {{ ledger }} where document_type = 'invoice'
    ),

    deltas as (
        select
            {% for c in cols %}f.{{ c }}, {% endfor %}
            b.original_invoice_id,
            f.amount_cents - b.billed_cents as delta_cents,
            f.units - b.billed_units as delta_units,
            f.precise_amount - b.billed_precise_amount as delta_precise_amount
        from {{ fees }} as f
        inner join billed as b using (fee_id)
        where f.amount_cents <> b.billed_cents

        union all
        select
            {% for c in cols %}f.{{ c }}, {% endfor %}
            f.invoice_id, f.amount_cents, f.units, f.precise_amount
        from {{ fees }} as f
        where f.invoice_id in (select invoice_id from issued_invoice_ids)
          and f.fee_id not in (select fee_id from billed)
          and f.amount_cents <> 0

        union all
        select
            {% for c in cols %}l.{{ c }}, {% endfor %}
            b.original_invoice_id, -b.billed_cents, -b.billed_units, -b.billed_precise_amount
        from billed as b
        inner join (select * from {{ ledger }} where line_kind = 'fee') as l using (fee_id)
        where b.fee_id not in (select fee_id from {{ fees }}) and b.billed_cents <> 0
    )
{% endmacro %}

{#- The join of two rows of the same invoice line before fees: service window, charge, filter (null = the
    charge's default line), pricing group, and (unless scenario=false) pricing scenario. -#}
{% macro same_line(a, b, scenario=true) -%}
    {%- if scenario %}{{ a }}.scenario = {{ b }}.scenario and {% endif -%}
    {{ a }}.service_window_id = {{ b }}.service_window_id
    and {{ a }}.charge_id = {{ b }}.charge_id
    and {{ a }}.filter_id is not distinct from {{ b }}.filter_id
    and {{ a }}.group_key = {{ b }}.group_key
{%- endmacro %}

{#- An invoice's id: customer x issue date in the customer's timezone (SEMANTICS.md "Invoices"). -#}
{% macro invoice_id(customer_id, issue_at, timezone) -%}
    ('inv_' || {{ customer_id }} || '_' || strftime({{ to_local(issue_at, timezone) }}, '%Y%m%d'))
{%- endmacro %}
