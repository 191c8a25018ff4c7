{#-
  Every invoice line: issued lines exactly as issued (from the ledger), and the lines of invoices not yet
  issued as the data stands now, including the adjustment lines pending for the customer's next invoice.
  invoice_status: issued | due (issued on the next run) | draft (period open or in its grace period).
  Prepaid credits: an issued invoice's credit lines are in the ledger; a draft draws from what the ledger
  left in each grant (macros/credits.sql), the customer's drafts in issue order, each draft's total with
  its pending adjustments (a standalone adjustment invoice still pending draws as of the billing clock).
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
),

draft_lines as (
    select
        invoice_id || '|' || fee_id as invoice_line_id,
        invoice_id,
        'fee' as line_kind,
        invoice_id as original_invoice_id,
        {% for c in cols %}{{ c }}, {% endfor %}
        units,
        precise_amount,
        amount_cents,
        issue_date,
        billing_month,
        issue_at,
        invoice_status,
        cast(null as timestamp) as cutoff_loaded_at
    from drafts
),

pending_adjustments as (
    select
        coalesce(n.invoice_id, 'inv_' || d.customer_id || '_adj_pending') || '|' || d.fee_id as invoice_line_id,
        coalesce(n.invoice_id, 'inv_' || d.customer_id || '_adj_pending') as invoice_id,
        'adjustment' as line_kind,
        d.original_invoice_id,
        {% for c in cols %}d.{{ c }}, {% endfor %}
        d.delta_units as units,
        d.delta_precise_amount as precise_amount,
        d.delta_cents as amount_cents,
        {#- no next draft: a standalone adjustment invoice, which the next close issues as of its billing
            clock (fct_billing_ledger does the same); until then it is dated by this build's clock -#}
        coalesce(h.issue_date, cast({{ to_local(clock(), 'd.timezone') }} as date)) as issue_date,
        coalesce(h.billing_month, strftime({{ clock() }}, '%Y-%m')) as billing_month,
        coalesce(h.issue_at, {{ clock() }}) as issue_at,
        coalesce(h.invoice_status, 'due') as invoice_status,
        cast(null as timestamp) as cutoff_loaded_at
    from deltas as d
    left join next_draft as n using (customer_id)
    left join draft_heads as h on h.invoice_id = n.invoice_id
    where d.delta_cents > 0
),

unissued_lines as (
    select * from draft_lines
    union all
    select * from pending_adjustments
),

{#- ---- prepaid credits on the invoices not issued yet (macros/credits.sql) ---- -#}
credit_grants as (select * from {{ ref('stg_accounts__credit_grants') }}),

{{ credit_balances('credit_grants', 'ledger') }},

unissued_totals as (
    select
        invoice_id,
        any_value(customer_id) as customer_id,
        any_value(currency) as currency,
        {#- a standalone adjustment invoice is issued by the next run: as of the billing clock -#}
        coalesce(max(issue_date), cast({{ to_local(clock(), 'any_value(timezone)') }} as date)) as issue_date,
        coalesce(max(issue_at), {{ clock() }}) as issue_at,
        sum(amount_cents) as amount_cents
    from unissued_lines
    group by invoice_id
),

{#- every expiry still to come (or not yet final) is projected between the drafts -#}
credit_expiries as (select grant_id from credit_grants where expiry_date is not null),

{{ credit_drawdown('credit_grants', 'credit_balances', 'unissued_totals', 'credit_expiries') }},

unissued_heads as (
    select *
    from unissued_lines
    qualify row_number() over (partition by invoice_id order by service_start_at, fee_id) = 1
),

credit_draft_lines as (
    select
        h.invoice_id || '|' || h.invoice_id || '|credit|grant=' || m.grant_id as invoice_line_id,
        h.invoice_id,
        'fee' as line_kind,
        h.invoice_id as original_invoice_id,
        {{ credit_line_columns('h.invoice_id') }},
        h.invoice_status,
        cast(null as timestamp) as cutoff_loaded_at
    from credit_moves as m
    inner join unissued_heads as h on h.invoice_id = m.event_id
    inner join {{ ref('currencies') }} as cur on cur.currency = h.currency
    where m.event_kind = 'draw'
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

select * from unissued_lines

union all

select * from credit_draft_lines
