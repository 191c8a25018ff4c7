{#-
  Every effective event (after dedupe and corrections) gets a subscription service window or an
  unmatched outcome (SEMANTICS.md "Attribution"), checked in this order:
    unmatched_metric        the metric code is not in the catalog, or the plan of the event's own
                            subscription at that time does not price it
    unmatched_customer      the customer is unknown
    no_active_subscription  no (matching) subscription is active at the event's time
    ambiguous_subscription  no subscription_id and several active subscriptions price the metric
    invalid_value           the metric's field is missing or not numeric (unique_count: missing, or an
                            operation_type other than add/remove)
    billed                  otherwise
  Values are read once, here, from the declared field of the metric as exact decimals.
-#}
with

effective as (
    select * from {{ ref('int_usage_events_corrected') }} where is_effective
),

metrics as (select * from {{ ref('stg_catalog__billable_metrics') }}),

customers as (select customer_id from {{ ref('stg_accounts__customers') }}),

windows as (
    select service_window_id, subscription_id, customer_id, plan_code, service_start_at, service_end_at
    from {{ ref('int_billing_periods') }}
),

priced as (
    select distinct plan_code, billable_metric_code from {{ ref('stg_catalog__charges') }}
),

explicit_match as (
    select
        e.load_id,
        e.row_number,
        w.service_window_id,
        p.plan_code is not null as is_priced
    from effective as e
    inner join windows as w
        on w.subscription_id = e.subscription_id
        and w.customer_id = e.customer_id
        and e.event_at >= w.service_start_at
        and e.event_at < w.service_end_at
    left join priced as p
        on p.plan_code = w.plan_code and p.billable_metric_code = e.metric_code
    where e.subscription_id is not null
),

implicit_match as (
    select
        e.load_id,
        e.row_number,
        count(distinct w.subscription_id) as candidate_count,
        min(w.service_window_id) as service_window_id
    from effective as e
    inner join windows as w
        on w.customer_id = e.customer_id
        and e.event_at >= w.service_start_at
        and e.event_at < w.service_end_at
    inner join priced as p
        on p.plan_code = w.plan_code and p.billable_metric_code = e.metric_code
    where e.subscription_id is null
    group by e.load_id, e.row_number
),

valued as (
    select
        e.*,
        m.aggregation_type,
        m.field_name,
        m.billable_metric_code is not null as is_known_metric,
        c.customer_id is not null as is_known_customer,
        case when m.field_name is not null then e.properties ->> m.field_name end as value_text,
        case when m.field_name is not null
            then try_cast(e.properties ->> m.field_name as {{ quantity_type() }}) end as value,
        coalesce(e.properties ->> 'operation_type', 'add') as operation_type,
        coalesce(x.service_window_id, case when i.candidate_count = 1 then i.service_window_id end)
            as service_window_id,
        x.is_priced as explicit_is_priced,
        i.candidate_count
    from effective as e
    left join metrics as m on m.billable_metric_code = e.metric_code
    left join customers as c on c.customer_id = e.customer_id
    left join explicit_match as x on x.load_id = e.load_id and x.row_number = e.row_number
    left join implicit_match as i on i.load_id = e.load_id and i.row_number = e.row_number
),

outcomes as (
    select
        *,
        case
            when not is_known_metric then 'unmatched_metric'
            when not is_known_customer then 'unmatched_customer'
            when subscription_id is not null and explicit_is_priced is null then 'no_active_subscription'
            when subscription_id is not null and not explicit_is_priced then 'unmatched_metric'
            when subscription_id is null and candidate_count is null then 'no_active_subscription'
            when subscription_id is null and candidate_count > 1 then 'ambiguous_subscription'
            when aggregation_type in ('sum_agg', 'max_agg', 'latest_agg', 'weighted_sum_agg')
                and value is null then 'invalid_value'
            when aggregation_type = 'unique_count_agg'
                and (value_text is null or operation_type not in ('add', 'remove')) then 'invalid_value'
            else 'billed'
        end as attribution_outcome
    from valued
)

select
    load_id,
    row_number,
    customer_id,
    event_id,
    replaces_event_id,
    metric_code,
    aggregation_type,
    case when attribution_outcome = 'billed' then service_window_id end as service_window_id,
    attribution_outcome,
    value,
    value_text,
    operation_type,
    properties,
    event_at,
    loaded_at
from outcomes
