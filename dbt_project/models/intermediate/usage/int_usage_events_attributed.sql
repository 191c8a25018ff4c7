{#-
  Every landed event (after dedupe and corrections) with its attribution: the effective ones get a
  subscription service window or an unmatched outcome (SEMANTICS.md "Attribution"), checked in order:
    unmatched_metric        the metric code is not in the catalog, or the plan of the event's own
                            subscription at that time does not price it
    unmatched_customer      the customer is unknown
    no_active_subscription  no (matching) subscription is active at the event's time
    ambiguous_subscription  no subscription_id and several active subscriptions price the metric
    invalid_value           the metric's field is missing or not numeric (unique_count: missing, or an
                            operation_type other than add/remove)
    billed                  otherwise
  Rows that are not effective (duplicates, superseded...) are kept with a null attribution, so that an
  event that stops counting leaves its old window, which is recomputed.
  Values are read once, here, from the declared field of the metric as exact decimals.

  Incremental: a batch re-attributes the rows deduplication/corrections changed (corrected_seq), and every
  event of a customer whose billing windows or catalog changed (the customer's fingerprint over windows,
  plans' charges and metrics). prior_service_window_id keeps the window a re-attributed event left.
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

metrics as (select * from {{ ref('stg_catalog__billable_metrics') }}),

windows as (
    select service_window_id, subscription_id, customer_id, plan_code, service_start_at, service_end_at
    from {{ ref('int_billing_periods') }}
),

priced as (
    select distinct plan_code, billable_metric_code from {{ ref('stg_catalog__charges') }}
),

catalog_fingerprint as (
    select md5(
        coalesce((select string_agg(concat_ws('|', billable_metric_code, aggregation_type, field_name),
                                    ',' order by billable_metric_code) from metrics), '')
        || '#' ||
        coalesce((select string_agg(concat_ws('|', plan_code, billable_metric_code), ','
                                    order by plan_code, billable_metric_code) from priced), '')
    ) as fp
),

customer_fingerprints as (
    select
        c.customer_id,
        md5(
            (select fp from catalog_fingerprint) || '#' ||
            coalesce(string_agg(concat_ws('|', w.service_window_id, w.plan_code, w.service_end_at), ','
                                order by w.service_window_id), '')
        ) as customer_fp
    from {{ ref('stg_accounts__customers') }} as c
    left join windows as w using (customer_id)
    group by c.customer_id
),

{% if is_incremental() %}
state as (select coalesce(max(corrected_seq), 0) as corrected_seq, coalesce(max(attributed_seq), 0) as attributed_seq
          from {{ this }}),

stale_customers as (
    select customer_id
    from (select distinct customer_id, customer_fp from {{ this }}) as t
    left join customer_fingerprints as f using (customer_id)
    where f.customer_fp is distinct from t.customer_fp
),

to_process as (
    select c.*, t.service_window_id as prior_service_window_id
    from {{ ref('int_usage_events_corrected') }} as c
    left join {{ this }} as t using (load_id, row_number)
    where c.corrected_seq > (select corrected_seq from state)
       or c.customer_id in (select customer_id from stale_customers)
),
{% else %}
to_process as (
    select c.*, cast(null as varchar) as prior_service_window_id
    from {{ ref('int_usage_events_corrected') }} as c
),
{% endif %}

effective as (select * from to_process where is_effective),

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
        f.customer_id is not null as is_known_customer,
        f.customer_fp,
        case when m.field_name is not null then e.properties ->> m.field_name end as value_text,
        case when m.field_name is not null
            then try_cast(e.properties ->> m.field_name as {{ quantity_type() }}) end as value,
        coalesce(e.properties ->> 'operation_type', 'add') as operation_type,
        coalesce(x.service_window_id, case when i.candidate_count = 1 then i.service_window_id end)
            as matched_window_id,
        x.is_priced as explicit_is_priced,
        i.candidate_count
    from to_process as e
    left join metrics as m on m.billable_metric_code = e.metric_code
    left join customer_fingerprints as f on f.customer_id = e.customer_id
    left join explicit_match as x on x.load_id = e.load_id and x.row_number = e.row_number
    left join implicit_match as i on i.load_id = e.load_id and i.row_number = e.row_number
),

outcomes as (
    select
        *,
        case
            when not is_effective then null
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
    case when attribution_outcome = 'billed' then matched_window_id end as service_window_id,
    prior_service_window_id,
    correction_outcome,
    attribution_outcome,
    value,
    value_text,
    operation_type,
    properties,
    event_at,
    loaded_at,
    customer_fp,
    corrected_seq,
    {% if is_incremental() %}(select attributed_seq from state) + 1{% else %}1{% endif %} as attributed_seq
from outcomes
