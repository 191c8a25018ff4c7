{#-
  Billing periods per subscription phase, computed in the customer's timezone, stored half-open in UTC.
  One row per (subscription, phase, period) = a service window [service_start_at, service_end_at): the
  part of the full period [period_start_at, period_end_at) served by that phase. Periods exist up to the
  billing clock (plus the future margin, so early events still find their period).
  Day counts are local calendar days: days_in_period for the full period; service_days = local days the
  window touches (inclusive, SEMANTICS.md: started 2022-03-15 on a monthly plan -> 17 of 31); trial days
  are not billable.
  plan_code is the plan that prices the window (see `priced` below): the catalog plan of the phase
  (base_plan_code), or its price version or the subscription's deal on it.
-#}
with

phases as (
    select
        p.*,
        plans.plan_interval,
        plans.trial_period_days,
        {{ to_local('p.subscription_started_at', 'p.timezone') }} as started_local,
        {{ to_local('p.phase_start_at', 'p.timezone') }} as phase_start_local,
        {{ to_local(
            'least(p.phase_end_at, ' ~ clock() ~ ' + to_hours(' ~ future_margin_hours() ~ '))',
            'p.timezone') }} as horizon_local
    from {{ ref('int_subscription_phases') }} as p
    inner join {{ ref('stg_catalog__plans') }} as plans using (plan_code)
    where p.phase_start_at <= {{ clock() }} + to_hours({{ future_margin_hours() }})
),

based as (
    select
        *,
        {{ period_series_base('started_local', 'plan_interval', 'billing_time') }} as series_base_local
    from phases
),

indexed as (
    select
        *,
        cast({{ period_index('series_base_local', 'plan_interval', 'phase_start_local') }} as integer) as first_j,
        cast({{ period_index('series_base_local', 'plan_interval', 'horizon_local') }} as integer) as last_j
    from based
),

periods as (
    select
        indexed.*,
        j.period_j,
        {{ nth_period_start('series_base_local', 'plan_interval', 'j.period_j') }} as period_start_local,
        {{ nth_period_start('series_base_local', 'plan_interval', 'j.period_j + 1') }} as period_end_local
    from indexed, unnest(generate_series(first_j, greatest(first_j, last_j))) as j(period_j)
),

windows as (
    select
        subscription_id,
        customer_id,
        currency,
        timezone,
        billing_time,
        plan_code,
        plan_interval,
        phase_seq,
        change_kind,
        period_j,
        {{ from_local('period_start_local', 'timezone') }} as period_start_at,
        {{ from_local('period_end_local', 'timezone') }} as period_end_at,
        greatest({{ from_local('period_start_local', 'timezone') }}, phase_start_at) as service_start_at,
        least({{ from_local('period_end_local', 'timezone') }}, phase_end_at) as service_end_at,
        subscription_started_at + to_days(trial_period_days) as trial_end_at,
        date_diff('day', period_start_local, period_end_local) as days_in_period,
        period_start_local,
        subscription_started_at,
        subscription_ending_at,
        subscription_source
    from periods
),

counted as (
    select
        *,
        {#- local days touched by [from, to): last touched day = day of (to - 1 microsecond) -#}
        date_diff('day',
            date_trunc('day', {{ to_local('service_start_at', 'timezone') }}),
            date_trunc('day', {{ to_local('service_end_at - interval 1 microsecond', 'timezone') }})
        ) + 1 as service_days,
        case
            when trial_end_at >= service_end_at then 0
            when trial_end_at <= service_start_at then
                date_diff('day',
                    date_trunc('day', {{ to_local('service_start_at', 'timezone') }}),
                    date_trunc('day', {{ to_local('service_end_at - interval 1 microsecond', 'timezone') }})
                ) + 1
            else
                date_diff('day',
                    date_trunc('day', {{ to_local('trial_end_at', 'timezone') }}),
                    date_trunc('day', {{ to_local('service_end_at - interval 1 microsecond', 'timezone') }})
                ) + 1
        end as billable_days
    from windows
    where service_end_at > service_start_at
),

{#-
  The price of each window (DIR/plan_versions.yml, DIR/overrides.yml; stg_catalog__plan_derivations): of
  the derived plans of the phase's catalog plan, the latest price version whose effective_from (00:00
  local) is at or before the start of the window's billing period, and, when the subscription has a deal
  on that plan in force at that start, the deal on that version. A price change or a deal never splits a
  period: a period that started before keeps its price to its end. Without derived plans (no row), the
  catalog plan.
-#}
priced as (
    select
        c.subscription_id,
        c.service_start_at,
        arg_max(
            d.plan_code,
            [
                coalesce(date_diff('day', date '1970-01-01', d.version_effective_from), -1000000),
                case when d.override_subscription_id is null then 0 else 1 end
            ]
        ) as priced_plan_code
    from counted as c
    inner join {{ ref('stg_catalog__plan_derivations') }} as d
        on d.base_plan_code = c.plan_code
        and (d.version_effective_from is null
             or cast(d.version_effective_from as timestamp) <= c.period_start_local)
        and (d.override_subscription_id is null
             or (d.override_subscription_id = c.subscription_id
                 and (d.override_effective_from is null
                      or cast(d.override_effective_from as timestamp) <= c.period_start_local)))
    group by c.subscription_id, c.service_start_at
)

select
    c.subscription_id || '/' || strftime(c.service_start_at, '%Y%m%dT%H%M%S') as service_window_id,
    c.* replace (coalesce(p.priced_plan_code, c.plan_code) as plan_code),
    c.plan_code as base_plan_code
from counted as c
left join priced as p using (subscription_id, service_start_at)
