{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}
{#- Append-only: one row per issued invoice (customer x issue date), totals = sums of its issued lines. -#}
with

lines as (
    select * from {{ ref('fct_issued_invoice_lines') }}
    {% if is_incremental() %}
    where invoice_id not in (select invoice_id from {{ this }})
    {% endif %}
)

select
    invoice_id,
    any_value(customer_id) as customer_id,
    any_value(currency) as currency,
    any_value(issue_date) as issue_date,
    max(issue_at) as issue_at,
    any_value(invoice_billing_month) as billing_month,
    count(*) as lines_count,
    sum(amount_cents) filter (where fee_type = 'subscription') as subscription_amount_cents,
    sum(amount_cents) filter (where fee_type = 'charge') as usage_amount_cents,
    sum(amount_cents) as total_amount_cents,
    any_value(cutoff_loaded_at) as cutoff_loaded_at,
    any_value(issued_at) as issued_at
from lines
group by invoice_id
