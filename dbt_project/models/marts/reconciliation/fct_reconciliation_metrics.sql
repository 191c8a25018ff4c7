{#- Billed usage per customer x billing month x billable metric: the charge lines (fees and adjustment lines)
    of the customer's invoices issued in that billing month, as issued. Units are summed as issued
    (DECIMAL(38, 12)); an adjustment line carries the delta units of a late increase. -#}
with

lines as (
    select * from {{ ref('fct_issued_invoice_lines') }}
    where fee_type = 'charge' and billable_metric_code is not null
)

select
    customer_id,
    billing_month,
    billable_metric_code,
    any_value(currency) as currency,
    count(*) as lines_count,
    count(*) filter (where line_kind = 'adjustment') as adjustment_lines_count,
    cast(sum(units) as {{ quantity_type() }}) as billed_units,
    cast(sum(events_count) as bigint) as events_count,
    cast(sum(amount_cents) as hugeint) as rated_amount_cents
from lines
group by customer_id, billing_month, billable_metric_code
