{#- A Stripe invoice that was finalized (open, paid or uncollectible; drafts are still being published and
    void ones no longer count) for a Meterhouse invoice must total exactly the Meterhouse invoice total.
    Returns one row per Stripe invoice that does not, including one naming a Meterhouse invoice that was
    never issued. The link: metadata.meterhouse_invoice_id, else the publication ledger. -#}
{#- A Dagster asset check on stg_stripe__invoices (dagster-dbt needs the asset of a test that reads several models) -#}
{{ config(meta={'dagster': {'ref': {'name': 'stg_stripe__invoices'}}}) }}
with

published as (
    select document_id, stripe_invoice_id
    from {{ ref('stg_stripe__published_documents') }}
    where document_type = 'invoice' and stripe_invoice_id is not null
),

stripe_invoices as (
    select
        s.stripe_invoice_id,
        s.invoice_status,
        s.currency,
        s.total_cents,
        coalesce(s.meterhouse_invoice_id, p.document_id) as meterhouse_invoice_id
    from {{ ref('stg_stripe__invoices') }} as s
    left join published as p on p.stripe_invoice_id = s.stripe_invoice_id
    where not s.is_deleted
      and s.invoice_status in ('open', 'paid', 'uncollectible')
)

select
    s.stripe_invoice_id,
    s.meterhouse_invoice_id,
    s.invoice_status,
    s.currency as stripe_currency,
    s.total_cents as stripe_total_cents,
    i.currency as meterhouse_currency,
    i.total_amount_cents as meterhouse_total_cents
from stripe_invoices as s
left join {{ ref('fct_issued_invoices') }} as i on i.invoice_id = s.meterhouse_invoice_id
where s.meterhouse_invoice_id is not null
  and (i.invoice_id is null
       or s.total_cents is distinct from i.total_amount_cents
       or s.currency is distinct from upper(i.currency))
