{#-
  The prepaid credit ledger: every movement of every grant's balance, in the order it happened, with the
  balance after it (minor units). One row per movement:
    grant        the grant itself (its amount, on its effective date)
    draw         an issued invoice drew from it (invoice_id; the invoice's negative credit line)
    return       a credit note gave back part of a draw (credit_note_id, invoice_id = the original invoice)
    rollover_out what a commitment term left unused moving to the next term (related_grant_id)
    rollover_in  the same amount arriving in the next term (related_grant_id = the term it came from)
    expiry       what was left at expiry and is lost (never silently: it is a row)
  amount_cents is the signed change of the balance; balance_after_cents the running balance. Every row
  but the grant's own is a row of billing.fct_billing_ledger (ledger_line_id), so each figure traces to
  the invoice or credit note line that made it. Order per grant: the grant first, then by the run that
  wrote it (issued_at, cutoff_loaded_at), credit note returns before that run's drawdown, then the
  drawdown walk's order (date, an expiry before the invoices of its date, instant, id).
-#}
with

grants as (select * from {{ ref('stg_accounts__credit_grants') }}),

ledger as (select * from {{ ref('fct_billing_ledger') }} where fee_type = 'credit'),

movements as (
    select
        grant_id || '|grant' as credit_entry_id,
        grant_id,
        'grant' as entry_type,
        cast(null as varchar) as invoice_id,
        cast(null as varchar) as credit_note_id,
        cast(null as varchar) as related_grant_id,
        amount_cents,
        effective_date as entry_date,
        effective_at as entry_at,
        cast(null as timestamp) as issued_at,
        cast(null as timestamp) as cutoff_loaded_at,
        cast(null as varchar) as ledger_line_id,
        0 as phase,
        0 as kind_order
    from grants

    union all

    select
        l.ledger_line_id,
        substring(l.group_key, length('grant=') + 1),
        case l.document_type when 'invoice' then 'draw' when 'credit_note' then 'return' else l.line_kind end,
        case when l.document_type in ('invoice', 'credit_note') then l.original_invoice_id end,
        case when l.document_type = 'credit_note' then l.document_id end,
        cast(null as varchar),
        {{ credit_balance_change('l') }},
        l.issue_date,
        l.issue_at,
        l.issued_at,
        l.cutoff_loaded_at,
        l.ledger_line_id,
        case when l.document_type = 'credit_note' then 1 else 2 end,
        case l.line_kind when 'rollover_out' then 0 when 'expiry' then 1 when 'rollover_in' then 2 else 3 end
    from ledger as l
),

ordered as (
    select
        m.* exclude (related_grant_id),
        case m.entry_type
            when 'rollover_out' then g.rollover_grant_id
            when 'rollover_in' then src.grant_id
        end as related_grant_id,
        g.customer_id,
        g.currency,
        g.grant_type,
        g.commitment_id,
        g.priority,
        g.effective_date,
        g.expiry_date,
        row_number() over (
            partition by m.grant_id
            order by m.phase > 0, m.issued_at, m.cutoff_loaded_at, m.phase, m.entry_date, m.kind_order,
                     m.entry_at, m.credit_entry_id
        ) as entry_seq
    from movements as m
    inner join grants as g using (grant_id)
    left join grants as src on src.rollover_grant_id = m.grant_id
)

select
    credit_entry_id,
    grant_id,
    entry_seq,
    entry_type,
    customer_id,
    currency,
    grant_type,
    commitment_id,
    invoice_id,
    credit_note_id,
    related_grant_id,
    amount_cents,
    sum(amount_cents) over (partition by grant_id order by entry_seq rows unbounded preceding) as balance_after_cents,
    entry_date,
    entry_at,
    issued_at,
    cutoff_loaded_at,
    ledger_line_id,
    priority,
    effective_date,
    expiry_date
from ordered
