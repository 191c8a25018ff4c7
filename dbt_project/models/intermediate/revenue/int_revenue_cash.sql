{#-
  Money given back to customers, which is cash and never MRR (SEMANTICS.md "Revenue (MRR)": refunds are how
  an invoice is paid, not its price; the issue: refunds and credit notes count as cash). One row per document:
    credit_note  Meterhouse's credit notes (billing.fct_credit_notes: decreases found after an invoice was
                 issued), at their issue; and credit notes made in Stripe (not publications of Meterhouse's:
                 no metadata.meterhouse_credit_note_id and not in the publication ledger), not void
    refund       Stripe refunds not failed or canceled, for the customer of the refunded charge
  amount_cents is positive, in minor units of the document's currency. fct_mrr shows them per customer and
  month next to the MRR they leave unchanged.
-#}
with

stripe_customers as (select stripe_customer_id, customer_id from {{ ref('stg_stripe__customers') }}),

published_credit_notes as (
    select stripe_credit_note_id
    from {{ ref('stg_stripe__published_documents') }}
    where document_type = 'credit_note' and stripe_credit_note_id is not null
),

meterhouse_credit_notes as (
    select
        'mh:' || credit_note_id as cash_document_id,
        'credit_note' as cash_kind,
        customer_id,
        currency,
        issued_at as occurred_at,
        cast(total_amount_cents as bigint) as amount_cents
    from {{ ref('fct_credit_notes') }}
),

stripe_credit_notes as (
    select
        'stripe:' || cn.stripe_credit_note_id,
        'credit_note',
        coalesce(sc.customer_id, cn.stripe_customer_id),
        cn.currency,
        coalesce(cn.effective_at, cn.created_at),
        cast(cn.total_cents as bigint)
    from {{ ref('stg_stripe__credit_notes') }} as cn
    left join stripe_customers as sc using (stripe_customer_id)
    where coalesce(cn.credit_note_status, 'issued') <> 'void'
      and cn.meterhouse_credit_note_id is null
      and cn.stripe_credit_note_id not in (select stripe_credit_note_id from published_credit_notes)
),

refunds as (
    select
        'stripe:' || r.stripe_refund_id,
        'refund',
        coalesce(sc.customer_id, ch.stripe_customer_id),
        coalesce(r.currency, ch.currency),
        r.created_at,
        cast(r.amount_cents as bigint)
    from {{ ref('stg_stripe__refunds') }} as r
    inner join {{ ref('stg_stripe__charges') }} as ch using (stripe_charge_id)
    left join stripe_customers as sc on sc.stripe_customer_id = ch.stripe_customer_id
    where coalesce(r.refund_status, 'succeeded') not in ('failed', 'canceled')
)

select * from meterhouse_credit_notes
union all
select * from stripe_credit_notes
union all
select * from refunds
