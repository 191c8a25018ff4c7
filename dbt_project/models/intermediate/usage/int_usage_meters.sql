{#-
  Meters: one row per (service window, charge, filter, pricing group), every aggregation type of
  SEMANTICS.md "Billable metrics" (Lago):
    count_agg        number of events
    sum_agg          sum of values (recurring: every event of the subscription up to the window's end)
    max_agg          largest value, 0 when none
    latest_agg       value of the last event (timestamp, then load order), floored at 0
    unique_count_agg values whose last operation (add|remove, timestamp then load order) in scope is add:
                     a repeated operation counts 0, a first-ever remove counts 0 (recurring: all history)
    weighted_sum_agg values are deltas to a level: sum(level x microseconds held) / window microseconds,
                     ceiled at 12 decimals (recurring: the level carries over from earlier windows)
  Then the metric's optional rounding. Every charge window has a row for its default and each filter even
  with no events (units 0), so an invoice shows a charge that was not used.

  Incremental, by service window: recomputes the windows whose charged events changed, and the windows
  that are new or whose definition changed (window_fp: bounds, plan, its charges and filters); rows of
  windows that no longer exist are deleted.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='service_window_id',
        on_schema_change='fail',
        post_hook="delete from {{ this }} where service_window_id not in
                   (select service_window_id from {{ ref('int_billing_periods') }})",
    )
}}
with

plan_fingerprints as (
    select
        ch.plan_code,
        md5(string_agg(
            concat_ws('|', ch.charge_id, ch.billable_metric_code, m.aggregation_type, m.is_recurring,
                      m.rounding_function, m.rounding_precision, to_json(ch.pricing_group_keys),
                      (select string_agg(f.filter_id || f.filter_values, ',' order by f.filter_id)
                       from {{ ref('stg_catalog__charge_filters') }} as f where f.charge_id = ch.charge_id)),
            ',' order by ch.charge_id)) as plan_fp
    from {{ ref('stg_catalog__charges') }} as ch
    inner join {{ ref('stg_catalog__billable_metrics') }} as m using (billable_metric_code)
    group by ch.plan_code
),

all_windows as (
    select
        w.service_window_id,
        w.subscription_id,
        w.plan_code,
        w.service_start_at,
        w.service_end_at,
        md5(concat_ws('|', w.plan_code, w.service_start_at, w.service_end_at, coalesce(p.plan_fp, ''))) as window_fp
    from {{ ref('int_billing_periods') }} as w
    left join plan_fingerprints as p using (plan_code)
),

charged_rows as (select * from {{ ref('int_usage_events_charged') }}),

{% if is_incremental() %}
touched_windows as (
    select distinct service_window_id
    from charged_rows
    where attributed_seq_applied > (select coalesce(max(attributed_seq_applied), 0) from {{ this }})
    union
    select a.service_window_id
    from all_windows as a
    anti join (select distinct service_window_id, window_fp from {{ this }}) as t
        on t.service_window_id = a.service_window_id and t.window_fp = a.window_fp
),

windows as (
    select * from all_windows where service_window_id in (select service_window_id from touched_windows)
),
{% else %}
windows as (select * from all_windows),
{% endif %}

charges as (
    select
        ch.charge_id,
        ch.plan_code,
        ch.billable_metric_code,
        m.aggregation_type,
        m.is_recurring,
        m.rounding_function,
        m.rounding_precision
    from {{ ref('stg_catalog__charges') }} as ch
    inner join {{ ref('stg_catalog__billable_metrics') }} as m using (billable_metric_code)
),

charged as (
    select
        c.*,
        coalesce(c.filter_id, '') as filter_key,
        ch.aggregation_type,
        w.service_start_at,
        w.service_end_at
    from charged_rows as c
    inner join charges as ch using (charge_id)
    inner join windows as w using (service_window_id)
    where c.load_id is not null
),

simple as (
    select
        service_window_id,
        charge_id,
        filter_key,
        group_key,
        any_value(aggregation_type) as aggregation_type,
        count(*) filter (where not is_carried_over) as events_count,
        count(*) filter (where not is_carried_over) as count_value,
        coalesce(sum(value), 0) as sum_value,
        coalesce(max(value) filter (where not is_carried_over), 0) as max_value,
        greatest(
            coalesce(arg_max(value, [epoch_us(event_at), load_id, row_number])
                filter (where not is_carried_over), 0),
            0) as latest_value
    from charged
    group by service_window_id, charge_id, filter_key, group_key
),

unique_last_operations as (
    select
        service_window_id,
        charge_id,
        filter_key,
        group_key,
        value_text,
        arg_max(operation_type, [epoch_us(event_at), load_id, row_number]) as last_operation
    from charged
    where aggregation_type = 'unique_count_agg'
    group by all
),

unique_counts as (
    select
        service_window_id, charge_id, filter_key, group_key,
        count(*) filter (where last_operation = 'add') as unique_value
    from unique_last_operations
    group by all
),

weighted_steps as (
    select
        service_window_id,
        charge_id,
        filter_key,
        group_key,
        service_start_at,
        service_end_at,
        event_at,
        sum(value) over running as level_after,
        coalesce(lead(event_at) over running, service_end_at) as held_until
    from charged
    where aggregation_type = 'weighted_sum_agg' and not is_carried_over
    window running as (
        partition by service_window_id, charge_id, filter_key, group_key
        order by event_at, load_id, row_number
        rows between unbounded preceding and current row
    )
),

weighted_initial as (
    select
        service_window_id, charge_id, filter_key, group_key,
        coalesce(sum(value) filter (where is_carried_over), 0) as initial_level,
        any_value(service_start_at) as service_start_at,
        any_value(service_end_at) as service_end_at,
        min(event_at) filter (where not is_carried_over) as first_event_at
    from charged
    where aggregation_type = 'weighted_sum_agg'
    group by all
),

weighted as (
    select
        i.service_window_id, i.charge_id, i.filter_key, i.group_key,
        {{ div_ceil(
            'i.initial_level * (epoch_us(coalesce(i.first_event_at, i.service_end_at)) - epoch_us(i.service_start_at))
             + coalesce(s.level_time, 0)',
            'epoch_us(i.service_end_at) - epoch_us(i.service_start_at)') }} as weighted_value
    from weighted_initial as i
    left join (
        select
            service_window_id, charge_id, filter_key, group_key,
            sum((any_level) * (epoch_us(held_until) - epoch_us(event_at))) as level_time
        from (
            select ws.*, wi.initial_level + ws.level_after as any_level
            from weighted_steps as ws
            inner join weighted_initial as wi using (service_window_id, charge_id, filter_key, group_key)
        )
        group by all
    ) as s using (service_window_id, charge_id, filter_key, group_key)
),

aggregated as (
    select
        s.service_window_id,
        s.charge_id,
        s.filter_key,
        s.group_key,
        s.events_count,
        case s.aggregation_type
            when 'count_agg' then cast(s.count_value as {{ quantity_type() }})
            when 'sum_agg' then s.sum_value
            when 'max_agg' then s.max_value
            when 'latest_agg' then s.latest_value
            when 'unique_count_agg' then cast(coalesce(u.unique_value, 0) as {{ quantity_type() }})
            when 'weighted_sum_agg' then w.weighted_value
        end as aggregated_value
    from simple as s
    left join unique_counts as u using (service_window_id, charge_id, filter_key, group_key)
    left join weighted as w using (service_window_id, charge_id, filter_key, group_key)
),

{#- one zero row per charge window and filter (and the default), where no event landed -#}
skeleton as (
    select w.service_window_id, ch.charge_id, '' as filter_key, '' as group_key
    from windows as w
    inner join charges as ch using (plan_code)
    union all
    select w.service_window_id, ch.charge_id, f.filter_id, ''
    from windows as w
    inner join charges as ch using (plan_code)
    inner join {{ ref('stg_catalog__charge_filters') }} as f using (charge_id)
),

completed as (
    select * from aggregated
    union all
    select sk.service_window_id, sk.charge_id, sk.filter_key, sk.group_key, 0, 0
    from skeleton as sk
    anti join aggregated as a
        on a.service_window_id = sk.service_window_id
        and a.charge_id = sk.charge_id
        and a.filter_key = sk.filter_key
)

select
    c.service_window_id,
    w.subscription_id,
    c.charge_id,
    nullif(c.filter_key, '') as filter_id,
    c.group_key,
    ch.billable_metric_code,
    ch.aggregation_type,
    c.events_count,
    cast(c.aggregated_value as {{ quantity_type() }}) as aggregated_value,
    {{ apply_metric_rounding('c.aggregated_value', 'ch.rounding_function', 'ch.rounding_precision') }} as units,
    w.service_start_at,
    w.service_end_at,
    w.window_fp,
    (select coalesce(max(attributed_seq_applied), 0) from charged_rows) as attributed_seq_applied
from completed as c
inner join charges as ch using (charge_id)
inner join windows as w using (service_window_id)
