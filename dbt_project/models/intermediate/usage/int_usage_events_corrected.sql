{#-
  Corrections applied (SEMANTICS.md "Corrections"): the raw log stays append-only; here each first version
  of an event gets its correction outcome, and the events that count are marked effective.
    - a correction names its original by (customer_id, correction_of); when several correct the same
      original, the last loaded (load_id, row_number) applies and the earlier ones are `superseded`;
    - an applied correction: outcome `correction`; its original: `superseded`;
      `replace` makes the correction effective with its own timestamp and properties (metric and
      subscription stay the original's); `void` leaves nothing effective;
    - a correction whose original is unknown, or is itself a correction: `correction_orphan`.
  Duplicates and conflicts (from deduplication) keep their outcome and are never effective.
  Incremental: a batch recomputes only the events whose key (customer_id, event_id) or whose original
  (customer_id, correction_of) is touched by a newly loaded row; every recomputed row gets this run's
  `corrected_seq`, which tells the next model what changed.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['load_id', 'row_number'],
        on_schema_change='fail',
    )
}}
with

{% if is_incremental() %}
state as (
    select coalesce(max(max_load_id), 0) as max_load_id, coalesce(max(corrected_seq), 0) as corrected_seq
    from {{ this }}
),

new_rows as (
    select customer_id, event_id, correction_of
    from {{ ref('stg_events__usage_events') }}
    where load_id > (select max_load_id from state)
),

keys_new as (
    select customer_id, event_id as key_id from new_rows
    union
    select customer_id, correction_of from new_rows where correction_of is not null
),

{#- close over one more step: the originals of corrections whose own key is touched (say, a re-sent
    correction) must be recomputed with them -#}
touched_keys as (
    select customer_id, key_id from keys_new
    union
    select e.customer_id, e.correction_of
    from {{ ref('stg_events__usage_events') }} as e
    semi join keys_new as k on k.customer_id = e.customer_id and k.key_id = e.event_id
    where e.correction_of is not null
),

touched_rows as (
    select e.* from {{ ref('stg_events__usage_events') }} as e
    semi join touched_keys as k on k.customer_id = e.customer_id and k.key_id = e.event_id
    union
    select e.* from {{ ref('stg_events__usage_events') }} as e
    semi join touched_keys as k on k.customer_id = e.customer_id and k.key_id = e.correction_of
),
{% else %}
touched_rows as (select * from {{ ref('stg_events__usage_events') }}),
{% endif %}

events as (
    select e.*, c.dedupe_status
    from touched_rows as e
    inner join {{ ref('int_usage_events_classified') }} as c using (load_id, row_number)
),

originals as (
    select * from events where dedupe_status = 'first' and correction_of is null
),

corrections as (
    select
        c.*,
        o.load_id as original_load_id,
        o.row_number as original_row_number,
        o.metric_code as original_metric_code,
        o.subscription_id as original_subscription_id,
        row_number() over (
            partition by c.customer_id, c.correction_of
            order by c.load_id desc, c.row_number desc
        ) as recency
    from events as c
    left join originals as o
        on o.customer_id = c.customer_id and o.event_id = c.correction_of
    where c.dedupe_status = 'first' and c.correction_of is not null
),

applied as (
    select * from corrections where original_load_id is not null and recency = 1
),

outcomes as (
    -- duplicates and conflicts
    select load_id, row_number, dedupe_status as correction_outcome, false as is_effective,
           customer_id, event_id, subscription_id, metric_code, event_at, properties, loaded_at,
           cast(null as varchar) as replaces_event_id
    from events
    where dedupe_status <> 'first'

    union all
    -- originals: superseded by an applied correction, or effective as they are
    select o.load_id, o.row_number,
           case when a.load_id is not null then 'superseded' end,
           a.load_id is null,
           o.customer_id, o.event_id, o.subscription_id, o.metric_code, o.event_at, o.properties,
           o.loaded_at, null
    from originals as o
    left join applied as a
        on a.original_load_id = o.load_id and a.original_row_number = o.row_number

    union all
    -- corrections
    select c.load_id, c.row_number,
           case
               when c.original_load_id is null then 'correction_orphan'
               when c.recency = 1 then 'correction'
               else 'superseded'
           end,
           c.original_load_id is not null and c.recency = 1 and c.correction_type = 'replace',
           c.customer_id, c.event_id,
           coalesce(c.original_subscription_id, c.subscription_id),
           coalesce(c.original_metric_code, c.metric_code),
           c.event_at, c.properties, c.loaded_at,
           case when c.original_load_id is not null then c.correction_of end
    from corrections as c
)

select
    outcomes.*,
    (select coalesce(max(load_id), 0) from {{ ref('int_usage_events_classified') }}) as max_load_id,
    {% if is_incremental() %}(select corrected_seq from state) + 1{% else %}1{% endif %} as corrected_seq
from outcomes
