{#-
  Meterhouse invoices next to their Stripe invoices, one row per Meterhouse invoice id: every issued
  invoice (billing.fct_issued_invoices), plus every meterhouse_invoice_id a Stripe invoice carries that
  Meterhouse has not issued. The per-invoice figures and flags fct_reconciliation rolls up per customer and
  billing month; see _reconciliation__models.yml for each column.

  Which Stripe invoices belong to a Meterhouse invoice: those whose metadata.meterhouse_invoice_id names it,
  and the one the publication ledger (raw.stripe_published_documents) recorded for it (in case the metadata
  was lost). Deleted drafts are ignored. The "live" Stripe invoice is the newest of them that is not void;
  voided ones are counted apart (a void one with a live one next to it: voided and reissued).
  Refunds: refunds (not failed or canceled) of the charges that paid one of its Stripe invoices. Since API
  version 2025-03-31.basil a charge does not name its invoice and invoice payments are not synced, so a
  charge is tied to an invoice by its `invoice` field when present, else by the invoice number in its
  description ("Payment for Invoice <number>") for the same Stripe customer.
-#}
with

issued as (select * from {{ ref('fct_issued_invoices') }}),

issued_lines as (select * from {{ ref('fct_issued_invoice_lines') }}),

ledger as (select * from {{ ref('fct_billing_ledger') }}),

mh_credit_notes as (select * from {{ ref('fct_credit_notes') }}),

s_invoices as (select * from {{ ref('stg_stripe__invoices') }} where not is_deleted),

s_customers as (select * from {{ ref('stg_stripe__customers') }}),

s_credit_notes as (select * from {{ ref('stg_stripe__credit_notes') }}),

s_charges as (select * from {{ ref('stg_stripe__charges') }}),

s_refunds as (select * from {{ ref('stg_stripe__refunds') }}),

published as (select * from {{ ref('stg_stripe__published_documents') }}),

published_invoices as (
    select document_id, stripe_invoice_id, publish_state, customer_id, billing_month
    from published
    where document_type = 'invoice'
),

{#- Stripe invoice -> Meterhouse invoice: the metadata first, else the publication ledger -#}
stripe_of_mh as (
    select
        si.*,
        coalesce(si.meterhouse_invoice_id, pi.document_id) as mh_invoice_id
    from s_invoices as si
    left join published_invoices as pi on pi.stripe_invoice_id = si.stripe_invoice_id
    where coalesce(si.meterhouse_invoice_id, pi.document_id) is not null
),

stripe_ranked as (
    select
        *,
        row_number() over (
            partition by mh_invoice_id
            order by invoice_status = 'void', created_at desc, stripe_invoice_id desc
        ) as pick
    from stripe_of_mh
),

stripe_per_mh as (
    select
        mh_invoice_id,
        count(*) as stripe_invoices_count,
        count(*) filter (where invoice_status = 'void') as stripe_voided_count,
        count(*) filter (where invoice_status <> 'void') as stripe_live_count,
        string_agg(stripe_invoice_id, ',' order by created_at, stripe_invoice_id) as stripe_invoice_ids
    from stripe_of_mh
    group by mh_invoice_id
),

stripe_picked as (
    select * from stripe_ranked where pick = 1
),

{#- charges -> Stripe invoice -#}
charge_invoice as (
    select
        c.stripe_charge_id,
        coalesce(c.stripe_invoice_id, si.stripe_invoice_id) as stripe_invoice_id
    from s_charges as c
    left join s_invoices as si
        on c.stripe_invoice_id is null
       and si.invoice_number = c.invoice_number
       and si.stripe_customer_id = c.stripe_customer_id
),

refunds_per_mh as (
    select
        s.mh_invoice_id,
        count(*) as stripe_refunds_count,
        sum(r.amount_cents) as stripe_refunded_cents
    from s_refunds as r
    inner join charge_invoice as ci using (stripe_charge_id)
    inner join stripe_of_mh as s on s.stripe_invoice_id = ci.stripe_invoice_id
    where coalesce(r.refund_status, 'succeeded') not in ('failed', 'canceled')
    group by s.mh_invoice_id
),

published_credit_note_ids as (
    select stripe_credit_note_id from published
    where document_type = 'credit_note' and stripe_credit_note_id is not null
),

s_credit_per_mh as (
    select
        s.mh_invoice_id,
        count(*) as stripe_credit_notes_count,
        sum(cn.total_cents) as stripe_credited_cents,
        count(*) filter (
            where cn.meterhouse_credit_note_id is null
              and cn.stripe_credit_note_id not in (select stripe_credit_note_id from published_credit_note_ids)
        ) as stripe_manual_credit_notes_count,
        coalesce(sum(cn.total_cents) filter (
            where cn.meterhouse_credit_note_id is null
              and cn.stripe_credit_note_id not in (select stripe_credit_note_id from published_credit_note_ids)
        ), 0) as stripe_manual_credited_cents
    from s_credit_notes as cn
    inner join stripe_of_mh as s on s.stripe_invoice_id = cn.stripe_invoice_id
    where cn.credit_note_status <> 'void'
    group by s.mh_invoice_id
),

mh_credit_per_invoice as (
    select
        invoice_id,
        count(*) as meterhouse_credit_notes_count,
        sum(total_amount_cents) as meterhouse_credited_cents
    from mh_credit_notes
    group by invoice_id
),

{#- usage that arrived after issue: adjustment lines on later invoices and credit note lines naming it -#}
late_per_invoice as (
    select
        original_invoice_id as invoice_id,
        count(*) filter (where line_kind = 'adjustment') as late_adjustment_lines_count,
        coalesce(sum(amount_cents) filter (where line_kind = 'adjustment'), 0) as late_adjustment_cents,
        count(*) filter (where line_kind = 'credit') as late_credit_lines_count,
        coalesce(sum(amount_cents) filter (where line_kind = 'credit'), 0) as late_credit_cents
    from ledger
    where line_kind in ('adjustment', 'credit')
      and original_invoice_id is not null
      and document_id <> original_invoice_id
    group by original_invoice_id
),

lines_per_invoice as (
    select
        invoice_id,
        count(*) as lines_count,
        sum(amount_cents) as rated_amount_cents,
        sum(precise_amount) as rated_precise_amount
    from issued_lines
    group by invoice_id
),

keys as (
    select invoice_id as meterhouse_invoice_id from issued
    union
    select mh_invoice_id from stripe_of_mh
),

operations_per_invoice as (
    {#- what operators did to the invoice in Stripe (meterhouse invoice void|reissue), with their reasons -#}
    select
        meterhouse_invoice_id,
        count(*) as operations_count,
        string_agg(
            operation || ' ' || coalesce(stripe_invoice_id, '?') || ' by ' || operator || ': ' || reason,
            '; ' order by operation_seq) as operations_detail
    from {{ ref('stg_stripe__invoice_operations') }}
    group by meterhouse_invoice_id
),

joined as (
    select
        k.meterhouse_invoice_id,
        coalesce(i.customer_id, pi.customer_id, sc.customer_id, sp.stripe_customer_id) as customer_id,
        coalesce(i.billing_month, sp.meterhouse_billing_month, pi.billing_month,
                 strftime(sp.created_at, '%Y-%m')) as billing_month,
        upper(coalesce(i.currency, sp.currency)) as currency,
        i.invoice_id is not null as is_issued,
        i.issue_date,
        cast(i.total_amount_cents as hugeint) as meterhouse_total_cents,
        coalesce(l.lines_count, 0) as lines_count,
        cast(coalesce(l.rated_amount_cents, 0) as hugeint) as rated_amount_cents,
        cast(coalesce(l.rated_precise_amount, 0) as {{ precise_type() }}) as rated_precise_amount,
        pi.publish_state,
        sp.stripe_invoice_id,
        sp.stripe_customer_id,
        sp.invoice_status as stripe_status,
        cast(sp.total_cents as hugeint) as stripe_total_cents,
        cast(sp.amount_paid_cents as hugeint) as stripe_amount_paid_cents,
        sp.finalized_at as stripe_finalized_at,
        coalesce(spm.stripe_invoices_count, 0) as stripe_invoices_count,
        coalesce(spm.stripe_voided_count, 0) as stripe_voided_count,
        spm.stripe_invoice_ids,
        coalesce(mc.meterhouse_credit_notes_count, 0) as meterhouse_credit_notes_count,
        cast(coalesce(mc.meterhouse_credited_cents, 0) as hugeint) as meterhouse_credited_cents,
        coalesce(scn.stripe_credit_notes_count, 0) as stripe_credit_notes_count,
        cast(coalesce(scn.stripe_credited_cents, 0) as hugeint) as stripe_credited_cents,
        coalesce(scn.stripe_manual_credit_notes_count, 0) as stripe_manual_credit_notes_count,
        cast(coalesce(scn.stripe_manual_credited_cents, 0) as hugeint) as stripe_manual_credited_cents,
        coalesce(rf.stripe_refunds_count, 0) as stripe_refunds_count,
        cast(coalesce(rf.stripe_refunded_cents, 0) as hugeint) as stripe_refunded_cents,
        coalesce(lt.late_adjustment_lines_count, 0) as late_adjustment_lines_count,
        cast(coalesce(lt.late_adjustment_cents, 0) as hugeint) as late_adjustment_cents,
        coalesce(lt.late_credit_lines_count, 0) as late_credit_lines_count,
        cast(coalesce(lt.late_credit_cents, 0) as hugeint) as late_credit_cents,
        coalesce(op.operations_count, 0) as operations_count,
        op.operations_detail
    from keys as k
    left join issued as i on i.invoice_id = k.meterhouse_invoice_id
    left join published_invoices as pi on pi.document_id = k.meterhouse_invoice_id
    left join stripe_picked as sp on sp.mh_invoice_id = k.meterhouse_invoice_id
    left join s_customers as sc on sc.stripe_customer_id = sp.stripe_customer_id
    left join stripe_per_mh as spm on spm.mh_invoice_id = k.meterhouse_invoice_id
    left join lines_per_invoice as l on l.invoice_id = k.meterhouse_invoice_id
    left join mh_credit_per_invoice as mc on mc.invoice_id = k.meterhouse_invoice_id
    left join s_credit_per_mh as scn on scn.mh_invoice_id = k.meterhouse_invoice_id
    left join refunds_per_mh as rf on rf.mh_invoice_id = k.meterhouse_invoice_id
    left join late_per_invoice as lt on lt.invoice_id = k.meterhouse_invoice_id
    left join operations_per_invoice as op on op.meterhouse_invoice_id = k.meterhouse_invoice_id
)

select
    *,
    {#- no Stripe invoice that counts: none, only void ones, or a draft not finalized yet -#}
    is_issued and (stripe_status is null or stripe_status in ('void', 'draft')) as is_unpublished,
    (stripe_status is not null and stripe_status not in ('void', 'draft')
        and stripe_total_cents is distinct from meterhouse_total_cents)
        or (not is_issued) as is_amount_mismatch,
    stripe_voided_count > 0 and stripe_status is not null and stripe_status <> 'void' as is_voided_reissued,
    stripe_refunds_count > 0 as is_refunded,
    stripe_manual_credit_notes_count > 0 as is_credited,
    late_adjustment_lines_count + late_credit_lines_count > 0 as is_late_usage_adjusted
from joined
