{#- Per load (file): rows_read = quarantined + landed, and every landed event has exactly one outcome.
    `is_balanced` must be true on every row (a dbt test checks it on every build). -#}
with

loads as (select * from {{ ref('stg_events__event_loads') }}),

quarantined as (
    select load_id, count(*) as quarantined_rows
    from {{ ref('stg_events__quarantined_events') }}
    group by load_id
),

landed as (
    select load_id, count(*) as landed_rows from {{ ref('stg_events__usage_events') }} group by load_id
),

outcomes as (
    select
        load_id,
        count(*) as outcome_rows,
        {%- for o in ['billed', 'late_adjusted', 'duplicate', 'conflict', 'superseded', 'correction',
                      'correction_orphan', 'unmatched_metric', 'unmatched_customer',
                      'no_active_subscription', 'ambiguous_subscription', 'invalid_value'] %}
        count(*) filter (where outcome = '{{ o }}') as {{ o }}_rows{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('fct_event_outcomes') }}
    group by load_id
)

select
    loads.load_id,
    loads.batch_id,
    loads.file_name,
    loads.loaded_at,
    loads.rows_read,
    coalesce(quarantined.quarantined_rows, 0) as quarantined_rows,
    coalesce(landed.landed_rows, 0) as landed_rows,
    outcomes.* exclude (load_id),
    loads.rows_read = coalesce(quarantined.quarantined_rows, 0) + coalesce(landed.landed_rows, 0)
        and coalesce(landed.landed_rows, 0) = coalesce(outcomes.outcome_rows, 0)
        and loads.rows_quarantined = coalesce(quarantined.quarantined_rows, 0)
        as is_balanced
from loads
left join quarantined using (load_id)
left join landed using (load_id)
left join outcomes using (load_id)
