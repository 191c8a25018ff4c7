{#-
  A subscription's plan over time: one row per phase [phase_start_at, phase_end_at).
  Plan changes (SEMANTICS.md "Periods, proration, plan changes"):
    upgrade (new plan's yearly price >= old): effective at the start of the change day (customer's timezone),
        so the old plan is billed to the day before and the new plan from the change day;
    downgrade: effective at the end of the billing period that contains the change.
  Changes are read in `changed_at` order; each compares with the plan chosen by the change before it.
-#}
with

subscriptions as (
    select
        s.subscription_id,
        s.customer_id,
        s.initial_plan_code,
        s.started_at,
        s.ending_at,
        s.subscription_source,
        c.timezone,
        c.billing_time,
        c.currency
    from {{ ref('stg_accounts__subscriptions') }} as s
    inner join {{ ref('stg_accounts__customers') }} as c using (customer_id)
),

plans as (select * from {{ ref('stg_catalog__plans') }}),

changes as (
    select
        ch.subscription_id,
        ch.plan_code as to_plan_code,
        ch.changed_at,
        coalesce(
            lag(ch.plan_code) over (partition by ch.subscription_id order by ch.changed_at),
            s.initial_plan_code
        ) as from_plan_code,
        s.timezone,
        s.billing_time,
        s.started_at
    from {{ ref('stg_accounts__subscription_changes') }} as ch
    inner join subscriptions as s using (subscription_id)
),

changes_effective as (
    select
        changes.*,
        to_plan.yearly_amount_cents >= from_plan.yearly_amount_cents as is_upgrade,
        {{ to_local('changes.changed_at', 'changes.timezone') }} as changed_local,
        {{ to_local('changes.started_at', 'changes.timezone') }} as started_local,
        from_plan.plan_interval as from_interval
    from changes
    inner join plans as to_plan on to_plan.plan_code = changes.to_plan_code
    inner join plans as from_plan on from_plan.plan_code = changes.from_plan_code
),

changes_dated as (
    select
        subscription_id,
        to_plan_code,
        from_plan_code,
        changed_at,
        is_upgrade,
        case
            when is_upgrade then {{ from_local("date_trunc('day', changed_local)", 'timezone') }}
            else {{ from_local(
                nth_period_start(
                    period_series_base('started_local', 'from_interval', 'billing_time'),
                    'from_interval',
                    period_index(period_series_base('started_local', 'from_interval', 'billing_time'),
                                 'from_interval', 'changed_local') ~ ' + 1'),
                'timezone') }}
        end as effective_at
    from changes_effective
),

boundaries as (
    select subscription_id, initial_plan_code as plan_code, started_at as phase_start_at,
           0 as phase_seq, cast(null as varchar) as change_kind
    from subscriptions
    union all
    select subscription_id, to_plan_code, effective_at,
           row_number() over (partition by subscription_id order by changed_at) as phase_seq,
           case when is_upgrade then 'upgrade' else 'downgrade' end
    from changes_dated
),

phases as (
    select
        b.subscription_id,
        b.phase_seq,
        b.plan_code,
        b.change_kind,
        greatest(b.phase_start_at, s.started_at) as phase_start_at,
        least(
            coalesce(lead(b.phase_start_at) over (partition by b.subscription_id order by b.phase_start_at, b.phase_seq),
                     s.ending_at, cast('infinity' as timestamp)),
            coalesce(s.ending_at, cast('infinity' as timestamp))
        ) as phase_end_at,
        s.customer_id,
        s.currency,
        s.timezone,
        s.billing_time,
        s.started_at as subscription_started_at,
        s.ending_at as subscription_ending_at,
        s.subscription_source
    from boundaries as b
    inner join subscriptions as s using (subscription_id)
)

select * from phases
where phase_end_at > phase_start_at
