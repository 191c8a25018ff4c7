{#-
  Billable events (outcome billed or late_adjusted) per subscription x metric x day, the day in the customer's
  timezone, next to the day before: the figures of the usage freshness check (orchestration/checks, thresholds
  in meterhouse.yml `quality`), which warns when a customer's usage drops to zero or changes by an order of
  magnitude, a likely instrumentation break before it becomes a wrong invoice.
  Only days while the subscription runs, without its first and last local day (partial days), and only days
  before the last day with any event at all (the end of the data is not a customer's drop: the freshness
  check's "no events" warning covers a feed that stops). A day without events counts 0. One row per
  subscription x metric the subscription was billed for x interior day, from its second interior day on
  (the first has no day before inside the window).
-#}
with

billed as (
    select * from {{ ref('fct_event_outcomes') }} where outcome in ('billed', 'late_adjusted')
),

windows as (select service_window_id, subscription_id from {{ ref('int_billing_periods') }}),

subscriptions as (select * from {{ ref('stg_accounts__subscriptions') }}),

customers as (select customer_id, timezone from {{ ref('stg_accounts__customers') }}),

feed as (select max(event_at) as last_event_at from {{ ref('fct_event_outcomes') }}),

events as (
    select
        w.subscription_id,
        b.metric_code,
        cast({{ to_local('b.event_at', 'c.timezone') }} as date) as usage_date
    from billed as b
    inner join windows as w using (service_window_id)
    inner join subscriptions as s using (subscription_id)
    inner join customers as c on c.customer_id = s.customer_id
),

daily as (
    select subscription_id, metric_code, usage_date, count(*) as events_count
    from events
    group by subscription_id, metric_code, usage_date
),

{#- the interior days of each subscription: after its first local day, before its last one and before the
    last day of the feed (in the customer's timezone) -#}
bounds as (
    select
        s.subscription_id,
        s.customer_id,
        cast({{ to_local('s.started_at', 'c.timezone') }} as date) + 1 as first_day,
        least(
            coalesce(cast({{ to_local('s.ending_at', 'c.timezone') }} as date), date '9999-12-31'),
            cast({{ to_local('f.last_event_at', 'c.timezone') }} as date)
        ) - 1 as last_day
    from subscriptions as s
    inner join customers as c on c.customer_id = s.customer_id
    cross join feed as f
    where f.last_event_at is not null
),

metrics as (select distinct subscription_id, metric_code from daily),

spine as (
    select
        b.subscription_id,
        b.customer_id,
        m.metric_code,
        cast(unnest(generate_series(b.first_day, b.last_day, interval 1 day)) as date) as usage_date
    from bounds as b
    inner join metrics as m using (subscription_id)
    where b.first_day <= b.last_day
),

with_counts as (
    select
        sp.subscription_id,
        sp.customer_id,
        sp.metric_code,
        sp.usage_date,
        coalesce(d.events_count, 0) as events_count,
        lag(coalesce(d.events_count, 0)) over (
            partition by sp.subscription_id, sp.metric_code order by sp.usage_date
        ) as previous_events_count
    from spine as sp
    left join daily as d using (subscription_id, metric_code, usage_date)
)

select
    subscription_id,
    customer_id,
    metric_code,
    usage_date,
    events_count,
    previous_events_count
from with_counts
where previous_events_count is not null
