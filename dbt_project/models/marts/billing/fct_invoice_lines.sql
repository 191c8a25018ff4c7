{#- Current invoice lines (fees) of every invoice, issued or not, as the data stands now. What was actually
    issued is in fct_issued_invoice_lines; the difference for an issued invoice is late usage. -#}
with

fees as (select * from {{ ref('int_fees') }} where is_invoiceable)

select
    fee_id as invoice_line_id,
    invoice_id,
    customer_id,
    subscription_id,
    plan_code,
    service_window_id,
    fee_type,
    charge_id,
    filter_id,
    group_key,
    billable_metric_code,
    charge_model,
    currency,
    units,
    events_count,
    unit_amount,
    precise_amount,
    amount_cents,
    is_in_advance,
    issue_date,
    billing_month,
    service_start_at,
    service_end_at,
    period_start_at,
    period_end_at,
    days_in_period,
    billable_days,
    issue_at,
    issue_at + to_hours({{ var('grace_period_hours') }}) <= {{ clock() }} as is_due
from fees
