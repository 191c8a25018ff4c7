{#-
  Every MRR line, one row each: Meterhouse's fees (int_revenue_lines_meterhouse) and the Stripe invoice lines
  Meterhouse did not publish (int_revenue_lines_stripe). mrr_amount is the line's monthly recurring revenue
  while it is in force, [in_force_from_at, in_force_to_at), exact, in the line's currency (major unit).
-#}
{%- set columns = [
    'revenue_line_id', 'revenue_source', 'customer_id', 'currency', 'minor_unit_exponent', 'timezone',
    'subscription_id', 'plan_code', 'fee_type', 'billable_metric_code', 'mrr_component', 'billing_interval',
    'days_in_period', 'proration_days', 'service_start_at', 'service_end_at', 'in_force_from_at',
    'in_force_to_at', 'net_amount', 'mrr_amount', 'is_issued', 'invoice_lines_count', 'invoice_line_ids'] %}
select {{ columns | join(', ') }} from {{ ref('int_revenue_lines_meterhouse') }}
union all by name
select {{ columns | join(', ') }} from {{ ref('int_revenue_lines_stripe') }}
