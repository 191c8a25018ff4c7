{#-
  Every invoice line: issued lines exactly as issued (from the ledger), and the lines of invoices not yet
  issued as the data stands now, including the adjustment lines pending for the customer's next invoice.
  invoice_status: issued | due (issued on the next run) | draft (period open or in its grace period).
-#}
{%- set cols = fee_descriptive_columns() %}
with

ledger as (select * from {{ ref('fct_billing_ledger') }}),

fees as (select * from {{ ref('int_fees') }} where scenario = 'live' and is_invoiceable),

{{ billing_deltas('fees', 'ledger') }},

drafts as (
    select
        f.*,
        case when bool_and(f.is_due) over (partition by f.invoice_id) then 'due' else 'draft' end as invoice_status
    from fees as f
    where f.invoice_id not in (select invoice_id from issued_invoice_ids)
),

next_draft as (
    select customer_id, arg_min(invoice_id, issue_at) as invoice_id
    from drafts
    group by customer_id
),

draft_heads as (
    select distinct invoice_id, issue_date, billing_month, issue_at, invoice_status from drafts
)

select
    ledger_line_id as invoice_line_id,
    document_id as invoice_id,
    line_kind,
    original_invoice_id,
    {% for c in cols %}{{ c }}, {% endfor %}
    units,
    precise_amount,
    amount_cents,
    issue_date,
    billing_month,
    issue_at,
    'issued' as invoice_status,
    cutoff_loaded_at
from ledger
where document_type = 'invoice'

union all

select
    invoice_id || '|' || fee_id,
    invoice_id,
    'fee',
    invoice_id,
    {% for c in cols %}{{ c }}, {% endfor %}
    units,
    precise_amount,
    amount_cents,
    issue_date,
    billing_month,
    issue_at,
    invoice_status,
    null
from drafts

union all

select
    coalesce(n.invoice_id, 'inv_' || d.customer_id || '_adj_pending') || '|' || d.fee_id,
    coalesce(n.invoice_id, 'inv_' || d.customer_id || '_adj_pending'),
    'adjustment',
    d.original_invoice_id,
    {% for c in cols %}d.{{ c }}, {% endfor %}
    d.delta_units,
    d.delta_precise_amount,
    d.delta_cents,
    h.issue_date,
    h.billing_month,
    h.issue_at,
    coalesce(h.invoice_status, 'due'),
    null
from deltas as d
left join next_draft as n using (customer_id)
left join draft_heads as h on h.invoice_id = n.invoice_id
where d.delta_cents > 0
