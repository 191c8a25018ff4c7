{#- Every invoice: issued ones as issued (never changing), and the drafts still following the data.
    status: issued | due (ready, issued on the next run) | draft (period still open or in grace). -#}
with

issued as (select * from {{ ref('fct_issued_invoices') }}),

drafts as (
    select
        invoice_id,
        any_value(customer_id) as customer_id,
        any_value(currency) as currency,
        any_value(issue_date) as issue_date,
        max(issue_at) as issue_at,
        max(billing_month) as billing_month,
        count(*) as lines_count,
        coalesce(sum(amount_cents) filter (where fee_type = 'subscription'), 0) as subscription_amount_cents,
        coalesce(sum(amount_cents) filter (where fee_type = 'charge'), 0) as usage_amount_cents,
        sum(amount_cents) as total_amount_cents,
        bool_and(is_due) as is_due
    from {{ ref('fct_invoice_lines') }}
    group by invoice_id
)

select
    invoice_id, customer_id, currency, issue_date, issue_at, billing_month, lines_count,
    coalesce(subscription_amount_cents, 0) as subscription_amount_cents,
    coalesce(usage_amount_cents, 0) as usage_amount_cents,
    total_amount_cents, 'issued' as invoice_status, cutoff_loaded_at, issued_at
from issued
union all
select
    invoice_id, customer_id, currency, issue_date, issue_at, billing_month, lines_count,
    subscription_amount_cents, usage_amount_cents, total_amount_cents,
    case when is_due then 'due' else 'draft' end, null, null
from drafts
where invoice_id not in (select invoice_id from issued)
