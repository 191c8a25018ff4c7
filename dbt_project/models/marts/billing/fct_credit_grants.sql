{#-
  One row per prepaid credit grant (DIR/credits.yml; a commitment's terms are grants `<id>#<n>`): its
  terms and what became of it, in minor units, from the issued ledger (fct_billing_ledger) alone:
    granted + rolled_in + returned - drawn - rolled_out - expired = balance
  each part summed from its own rows (the data test credit_ledger_reconciles checks the identity and that
  the balance equals the last balance_after of fct_credit_ledger, computed the other way). Draws of
  invoices not issued yet are not in it (see fct_invoice_lines). status against the billing clock:
  not_yet_effective | active | expired.
-#}
with

grants as (select * from {{ ref('stg_accounts__credit_grants') }}),

rows_per_grant as (
    select
        substring(group_key, length('grant=') + 1) as grant_id,
        coalesce(-sum(amount_cents) filter (where document_type = 'invoice'), 0) as drawn_cents,
        coalesce(-sum(amount_cents) filter (where document_type = 'credit_note'), 0) as returned_cents,
        coalesce(sum(amount_cents) filter (where line_kind = 'rollover_in'), 0) as rolled_in_cents,
        coalesce(-sum(amount_cents) filter (where line_kind = 'rollover_out'), 0) as rolled_out_cents,
        coalesce(-sum(amount_cents) filter (where line_kind = 'expiry'), 0) as expired_cents,
        sum({{ credit_balance_change('l') }}) as change_cents,
        count(*) filter (where document_type = 'invoice') as invoices_count
    from {{ ref('fct_billing_ledger') }} as l
    where fee_type = 'credit'
    group by 1
)

select
    g.grant_id,
    g.customer_id,
    g.grant_name,
    g.grant_type,
    g.commitment_id,
    g.term_number,
    g.currency,
    g.priority,
    g.effective_date,
    g.expiry_date,
    g.term_start_date,
    g.term_end_date,
    g.rollover_percent,
    g.rollover_grant_id,
    g.amount_cents as granted_cents,
    coalesce(r.rolled_in_cents, 0) as rolled_in_cents,
    coalesce(r.returned_cents, 0) as returned_cents,
    coalesce(r.drawn_cents, 0) as drawn_cents,
    coalesce(r.rolled_out_cents, 0) as rolled_out_cents,
    coalesce(r.expired_cents, 0) as expired_cents,
    g.amount_cents + coalesce(r.change_cents, 0) as balance_cents,
    coalesce(r.invoices_count, 0) as invoices_count,
    case
        when g.effective_at > {{ clock() }} then 'not_yet_effective'
        when g.expires_at <= {{ clock() }} then 'expired'
        else 'active'
    end as status
from grants as g
left join rows_per_grant as r using (grant_id)
