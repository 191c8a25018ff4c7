{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}
{#-
  Deduplication over all history, not a window (SEMANTICS.md "Events").
  One row per landed event; key = (customer_id, event_id); first = first by (load_id, row_number).
    first     : the version that counts
    duplicate : same key, same payload as the first
    conflict  : same key, different payload (kept and reported, never billed)
  Incremental: a batch only classifies rows of loads newer than the newest classified one, joined
  against the first versions already stored, so its cost follows the batch, not the history.
-#}
with

new_rows as (
    select * from {{ ref('stg_events__usage_events') }}
    {% if is_incremental() %}
    where load_id > (select coalesce(max(load_id), 0) from {{ this }})
    {% endif %}
),

{% if is_incremental() %}
stored_firsts as (
    select s.customer_id, s.event_id, s.payload_hash
    from {{ this }} as s
    semi join new_rows as n
        on s.customer_id = n.customer_id and s.event_id = n.event_id
    where s.dedupe_status = 'first'
),
{% endif %}

ranked as (
    select
        *,
        row_number() over by_key as key_rank,
        first_value(payload_hash) over by_key as batch_first_hash
    from new_rows
    window by_key as (partition by customer_id, event_id order by load_id, row_number)
),

classified as (
    select
        ranked.load_id,
        ranked.row_number,
        ranked.customer_id,
        ranked.event_id,
        ranked.payload_hash,
        case
            {% if is_incremental() %}
            when stored_firsts.customer_id is not null then
                case when stored_firsts.payload_hash = ranked.payload_hash then 'duplicate' else 'conflict' end
            {% endif %}
            when ranked.key_rank = 1 then 'first'
            when ranked.batch_first_hash = ranked.payload_hash then 'duplicate'
            else 'conflict'
        end as dedupe_status,
        ranked.loaded_at
    from ranked
    {% if is_incremental() %}
    left join stored_firsts
        on ranked.customer_id = stored_firsts.customer_id and ranked.event_id = stored_firsts.event_id
    {% endif %}
)

select * from classified
