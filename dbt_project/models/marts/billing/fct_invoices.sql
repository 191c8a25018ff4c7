{#- Every invoice (customer x issue date in the customer's timezone, or a standalone adjustment invoice):
    issued ones as issued, the others as the data stands. billing_month = UTC month of the issue instant. -#}
select
    invoice_id,
    any_value(customer_id) as customer_id,
    any_value(currency) as currency,
    any_value(issue_date) as issue_date,
    max(issue_at) as issue_at,
    max(billing_month) as billing_month,
    any_value(invoice_status) as invoice_status,
    count(*) as lines_count,
    coalesce(sum(amount_cents) filter (where line_kind = 'fee' and fee_type = 'subscription'), 0)
        as subscription_amount_cents,
    coalesce(sum(amount_cents) filter (where line_kind = 'fee' and fee_type = 'charge'), 0) as usage_amount_cents,
    coalesce(sum(amount_cents) filter (where line_kind = 'adjustment'), 0) as adjustment_amount_cents,
    coalesce(sum(amount_cents) filter (where line_kind = 'fee' and fee_type = 'discount'), 0) as discount_amount_cents,
    coalesce(sum(amount_cents) filter (where line_kind = 'fee' and fee_type = 'tax'), 0) as tax_amount_cents,
    {# prepaid credits drawn (negative), after tax: the total is what is left to pay #}
    coalesce(sum(amount_cents) filter (where line_kind = 'fee' and fee_type = 'credit'), 0) as credit_amount_cents,
    sum(amount_cents) as total_amount_cents,
    not bool_or(line_kind = 'fee' and fee_type <> 'credit') as is_standalone_adjustment,
    any_value(cutoff_loaded_at) as cutoff_loaded_at
from {{ ref('fct_invoice_lines') }}
group by invoice_id
