{#- Meters per (subscription service window, charge, filter, pricing group), with customer and period. -#}
select
    m.service_window_id,
    w.customer_id,
    m.subscription_id,
    w.plan_code,
    m.charge_id,
    m.filter_id,
    m.group_key,
    m.billable_metric_code,
    m.aggregation_type,
    m.events_count,
    m.aggregated_value,
    m.units,
    w.period_start_at,
    w.period_end_at,
    m.service_start_at,
    m.service_end_at
from {{ ref('int_usage_meters') }} as m
inner join {{ ref('int_billing_periods') }} as w using (service_window_id)
