{#- One row per issued invoice (customer x issue date, or a standalone adjustment invoice); totals are sums
    of its lines, each rounded once. Never changes once issued. -#}
select
    invoice_id,
    any_value(customer_id) as customer_id,
    any_value(currency) as currency,
    any_value(issue_date) as issue_date,
    max(issue_at) as issue_at,
    any_value(billing_month) as billing_month,
    count(*) as lines_count,
    coalesce(sum(amount_cents) filter (where line_kind = 'fee' and fee_type = 'subscription'), 0)
        as subscription_amount_cents,
    coalesce(sum(amount_cents) filter (where line_kind = 'fee' and fee_type = 'charge'), 0) as usage_amount_cents,
    coalesce(sum(amount_cents) filter (where line_kind = 'adjustment'), 0) as adjustment_amount_cents,
    sum(amount_cents) as total_amount_cents,
    bool_or(line_kind = 'adjustment' and not exists_fee) as is_standalone_adjustment,
    any_value(cutoff_loaded_at) as cutoff_loaded_at,
    any_value(issued_at) as issued_at
from (
    select *, bool_or(line_kind = 'fee') over (partition by invoice_id) as exists_fee
    from {{ ref('fct_issued_invoice_lines') }}
)
group by invoice_id
