{#-
  The bridge from events to invoice lines: one row per (billed event, charge window) that the event
  counts in, with the charge filter and pricing group it falls in. A line's figure is traced by
  selecting this table on (service_window_id, charge_id, filter_id, group_key).
    - non-recurring metrics: the events of the window itself;
    - recurring metrics: every billed event of the subscription up to the window's end (the level carries
      over), flagged `is_carried_over` when it happened before the window.
  Filters (SEMANTICS.md): an event matches a filter when every key of the filter has one of its values;
  the most specific filter (most keys) wins, file order breaks ties; no match = the charge's default
  (filter_id null). Pricing groups: `key=value` pairs in key order, `null` for a missing key.

  Incremental, by service window: a batch recomputes the windows its re-attributed events are in or left,
  and every later window of the same subscriptions (recurring levels carry over). Each recomputed window
  also gets a placeholder row (load_id null), so a window whose events all went away is emptied too, and
  attributed_seq_applied records how far the attribution has been applied.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='service_window_id',
        on_schema_change='fail',
    )
}}
with

windows as (select * from {{ ref('int_billing_periods') }}),

attributed as (select * from {{ ref('int_usage_events_attributed') }}),

{% if is_incremental() %}
changed as (
    select service_window_id, prior_service_window_id
    from attributed
    where attributed_seq > (select coalesce(max(attributed_seq_applied), 0) from {{ this }})
),

direct_windows as (
    select service_window_id from changed where service_window_id is not null
    union
    select prior_service_window_id from changed where prior_service_window_id is not null
),

touched_windows as (
    select later.service_window_id
    from windows as later
    inner join windows as touched
        on touched.subscription_id = later.subscription_id
        and later.service_start_at >= touched.service_start_at
    where touched.service_window_id in (select service_window_id from direct_windows)
    union
    select service_window_id from direct_windows
),
{% else %}
touched_windows as (select service_window_id from windows),
{% endif %}

charges as (
    select ch.*, m.aggregation_type, m.is_recurring
    from {{ ref('stg_catalog__charges') }} as ch
    inner join {{ ref('stg_catalog__billable_metrics') }} as m using (billable_metric_code)
),

touched_subscriptions as (
    select distinct subscription_id
    from windows
    where service_window_id in (select service_window_id from touched_windows)
),

billed as (
    select e.*, w.subscription_id
    from attributed as e
    inner join windows as w using (service_window_id)
    where e.attribution_outcome = 'billed'
      and w.subscription_id in (select subscription_id from touched_subscriptions)
),

charge_windows as (
    select
        w.service_window_id,
        w.subscription_id,
        w.service_start_at,
        w.service_end_at,
        ch.charge_id,
        ch.billable_metric_code,
        ch.is_recurring,
        ch.pricing_group_keys
    from windows as w
    inner join charges as ch using (plan_code)
    where w.service_window_id in (select service_window_id from touched_windows)
),

scoped as (
    select
        cw.service_window_id,
        cw.charge_id,
        cw.pricing_group_keys,
        b.service_window_id <> cw.service_window_id as is_carried_over,
        b.load_id,
        b.row_number,
        b.event_id,
        b.value,
        b.value_text,
        b.operation_type,
        b.properties,
        b.event_at
    from charge_windows as cw
    inner join billed as b
        on b.subscription_id = cw.subscription_id
        and b.metric_code = cw.billable_metric_code
        and (
            b.service_window_id = cw.service_window_id
            or (cw.is_recurring and b.event_at < cw.service_start_at)
        )
),

filter_keys as (
    select
        f.filter_id,
        f.charge_id,
        f.filter_key_count,
        f.filter_order,
        k.filter_key,
        cast(f.filter_values -> k.filter_key as varchar[]) as key_values
    from {{ ref('stg_catalog__charge_filters') }} as f,
        unnest(json_keys(f.filter_values)) as k(filter_key)
),

filter_matches as (
    select
        s.service_window_id,
        s.charge_id,
        s.load_id,
        s.row_number,
        fk.filter_id,
        fk.filter_key_count,
        fk.filter_order
    from scoped as s
    inner join filter_keys as fk on fk.charge_id = s.charge_id
    where list_contains(fk.key_values, s.properties ->> fk.filter_key)
    group by all
    having count(*) = fk.filter_key_count
),

best_filter as (
    select
        service_window_id,
        charge_id,
        load_id,
        row_number,
        arg_min(filter_id, [-filter_key_count, filter_order]) as filter_id
    from filter_matches
    group by service_window_id, charge_id, load_id, row_number
),

events_charged as (
    select
        s.service_window_id,
        s.charge_id,
        bf.filter_id,
        case
            when len(s.pricing_group_keys) = 0 then ''
            else array_to_string(
                list_transform(s.pricing_group_keys, lambda k: k || '=' || coalesce(s.properties ->> k, 'null')),
                ', ')
        end as group_key,
        s.is_carried_over,
        s.load_id,
        s.row_number,
        s.event_id,
        s.value,
        s.value_text,
        s.operation_type,
        s.event_at
    from scoped as s
    left join best_filter as bf
        on bf.service_window_id = s.service_window_id
        and bf.charge_id = s.charge_id
        and bf.load_id = s.load_id
        and bf.row_number = s.row_number
),

placeholders as (
    select
        service_window_id,
        cast(null as varchar) as charge_id,
        cast(null as varchar) as filter_id,
        cast(null as varchar) as group_key,
        cast(null as boolean) as is_carried_over,
        cast(null as bigint) as load_id,
        cast(null as bigint) as row_number,
        cast(null as varchar) as event_id,
        cast(null as {{ quantity_type() }}) as value,
        cast(null as varchar) as value_text,
        cast(null as varchar) as operation_type,
        cast(null as timestamp) as event_at
    from touched_windows
)

select
    *,
    (select coalesce(max(attributed_seq), 0) from attributed) as attributed_seq_applied
from (
    select * from events_charged
    union all
    select * from placeholders
)
