{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}
{#-
  The append-only record of everything Meterhouse has issued (SEMANTICS.md "Invoices: issue, finality,
  adjustments"). One row per line of an issued document; rows are never updated or deleted.
    document_type invoice,     line_kind fee        : the lines of an invoice issued once all of them are due
                                                      (issue instant + grace <= billing clock)
    document_type invoice,     line_kind adjustment : an increase found after issue (late events,
                                                      corrections), on the customer's next invoice, naming the
                                                      original invoice and service period; a standalone
                                                      adjustment invoice when the customer has no next one
    document_type credit_note, line_kind credit     : a decrease, credited against the original invoice
  Every row records the load-time cut-off it used (the newest load at that moment) and when it was issued:
  rebuilding from raw events with as_of_loaded_at = that cut-off reproduces it.
  close_through_month (YYYY-MM, the Dagster partition) closes a billing month and every month before it: a
  run issues each due invoice whose billing month is at most that month (an invoice issued late in a month,
  say on an anniversary, is closed by the next run, never skipped). Credit notes and standalone adjustments
  are issued by any run.
-#}
{%- set cols = fee_descriptive_columns() %}
with

fees as (select * from {{ ref('int_fees') }} where scenario = 'live' and is_invoiceable),

prior as (
    {% if is_incremental() %}
    select * from {{ this }}
    {% else %}
    {#- the first build: an empty ledger with the fees' column types -#}
    select
        cast(null as varchar) as ledger_line_id,
        cast(null as varchar) as document_type,
        cast(null as varchar) as document_id,
        cast(null as varchar) as line_kind,
        cast(null as varchar) as original_invoice_id,
        {% for c in cols %}f.{{ c }}, {% endfor %}
        f.units,
        f.precise_amount,
        f.amount_cents
    from fees as f
    where false
    {% endif %}
),

cutoff as (
    select
        coalesce(max(loaded_at), cast('1970-01-01' as timestamp)) as cutoff_loaded_at,
        {{ clock() }} as issued_at
    from {{ ref('stg_events__event_loads') }}
),

{{ billing_deltas('fees', 'prior') }},

invoices as (
    select
        invoice_id,
        any_value(customer_id) as customer_id,
        bool_and(is_due) as is_due,
        max(billing_month) as billing_month,
        max(issue_at) as issue_at,
        any_value(issue_date) as issue_date
    from fees
    group by invoice_id
),

unissued as (
    select * from invoices where invoice_id not in (select invoice_id from issued_invoice_ids)
),

to_issue as (
    select * from unissued
    where is_due
      and billing_month <= coalesce({{ close_through_month() }}, billing_month)
),

next_invoice as (
    select customer_id, arg_min(invoice_id, issue_at) as invoice_id
    from to_issue
    group by customer_id
),

fee_lines as (
    select
        'invoice' as document_type,
        f.invoice_id as document_id,
        'fee' as line_kind,
        f.invoice_id as original_invoice_id,
        {% for c in cols %}f.{{ c }}, {% endfor %}
        f.units,
        f.precise_amount,
        f.amount_cents,
        t.issue_date,
        t.billing_month,
        t.issue_at
    from fees as f
    inner join to_issue as t using (invoice_id)
),

adjustment_lines as (
    select
        'invoice',
        coalesce(n.invoice_id,
                 'inv_' || d.customer_id || '_adj_' || strftime(c.cutoff_loaded_at, '%Y%m%dT%H%M%S')),
        'adjustment',
        d.original_invoice_id,
        {% for col in cols %}d.{{ col }}, {% endfor %}
        d.delta_units,
        d.delta_precise_amount,
        d.delta_cents,
        coalesce(t.issue_date, cast({{ to_local('c.issued_at', 'd.timezone') }} as date)),
        coalesce(t.billing_month, strftime(c.issued_at, '%Y-%m')),
        coalesce(t.issue_at, c.issued_at)
    from deltas as d
    cross join cutoff as c
    left join next_invoice as n using (customer_id)
    left join to_issue as t on t.invoice_id = n.invoice_id
    where d.delta_cents > 0
      and (n.invoice_id is not null or d.customer_id not in (select customer_id from unissued))
),

credit_lines as (
    select
        'credit_note',
        'cn_' || d.original_invoice_id || '_' || strftime(c.cutoff_loaded_at, '%Y%m%dT%H%M%S'),
        'credit',
        d.original_invoice_id,
        {% for col in cols %}d.{{ col }}, {% endfor %}
        -d.delta_units,
        -d.delta_precise_amount,
        -d.delta_cents,
        cast({{ to_local('c.issued_at', 'd.timezone') }} as date),
        strftime(c.issued_at, '%Y-%m'),
        c.issued_at
    from deltas as d
    cross join cutoff as c
    where d.delta_cents < 0
),

new_lines as (
    select * from fee_lines
    union all
    select * from adjustment_lines
    union all
    select * from credit_lines
)

select
    document_id || '|' || fee_id as ledger_line_id,
    new_lines.*,
    cutoff.cutoff_loaded_at,
    cutoff.issued_at
from new_lines
cross join cutoff
