{#-
  Each customer's MRR as it changes over time, one row per change (SEMANTICS.md "Revenue (MRR)"), and the
  movement each change is.

  A customer's MRR at an instant is the sum of the mrr_amount of its lines in force then (int_revenue_lines),
  committed and usage apart, each rounded once to the currency's minor unit; total = committed + usage. It
  changes where a line starts or ends. Changes of the same customer less than or equal to 60 minutes after
  the previous one are one change (two subscriptions started within the hour are one new business), but a
  change never spans two of the customer's months (local months, in the customer's timezone): MRR is read
  at each month's end, and every change must fall in one month for the month's movements to add up.

  States, after each change:
    subscribed  at least one line in force (a paying customer at zero, after a 100% discount or in a month
                without usage, is still subscribed)
    active      subscribed, and paid (MRR > 0) at some point since it last became subscribed
  Only what has happened counts: changes after the billing clock (a line that ends after "now", a period
  that starts later) are not applied, so the reporting month's MRR is the MRR in force now (an anniversary
  period ending after the clock is not a churn: its next period is simply not built yet).
  Movements: not active -> active: new_business (never active before) or reactivation; active -> not active:
  churn (dated when the last line in force ends: the end of the last paid service period); active -> active:
  expansion (MRR up) or contraction (down, to zero included). Every other change is no movement, so the MRR
  of a month's end minus the previous month's end is the sum of the month's movements.
-#}
with

lines as (
    select * from {{ ref('int_revenue_lines') }}
    where in_force_from_at < in_force_to_at
),

customers as (
    select
        customer_id,
        case
            when count(distinct currency) > 1
                then error('int_mrr_changes: customer ' || customer_id || ' has revenue in several currencies ('
                           || string_agg(distinct currency, ', ' order by currency)
                           || '); MRR is kept per customer in one currency')
            else any_value(currency)
        end as currency,
        any_value(minor_unit_exponent) as minor_unit_exponent,
        {#- the Meterhouse customer's timezone when there is one (Stripe-only customers: UTC) -#}
        coalesce(
            any_value(timezone) filter (where revenue_source = 'meterhouse'), any_value(timezone)
        ) as timezone
    from lines
    group by customer_id
),

edges as (
    select
        customer_id,
        in_force_from_at as changed_at,
        case when mrr_component = 'committed' then mrr_amount else 0 end as committed_delta,
        case when mrr_component = 'usage' then mrr_amount else 0 end as usage_delta,
        1 as lines_delta,
        invoice_line_ids as started_line_ids,
        cast(null as varchar) as ended_line_ids
    from lines
    union all
    select
        customer_id,
        in_force_to_at,
        case when mrr_component = 'committed' then -mrr_amount else 0 end,
        case when mrr_component = 'usage' then -mrr_amount else 0 end,
        -1,
        null,
        invoice_line_ids
    from lines
),

points as (
    select
        customer_id,
        changed_at,
        cast(sum(committed_delta) as {{ precise_type() }}) as committed_delta,
        cast(sum(usage_delta) as {{ precise_type() }}) as usage_delta,
        sum(lines_delta) as lines_delta,
        string_agg(started_line_ids, ',' order by started_line_ids) as started_line_ids,
        string_agg(ended_line_ids, ',' order by ended_line_ids) as ended_line_ids
    from edges
    where changed_at <= {{ clock() }}
    group by customer_id, changed_at
),

levels as (
    select
        p.*,
        c.currency,
        c.minor_unit_exponent,
        c.timezone,
        {{ local_month('p.changed_at', 'c.timezone') }} as month,
        {{ to_minor_units(
            'sum(p.committed_delta) over (partition by p.customer_id order by p.changed_at rows unbounded preceding)',
            'c.minor_unit_exponent') }} as committed_mrr_cents,
        {{ to_minor_units(
            'sum(p.usage_delta) over (partition by p.customer_id order by p.changed_at rows unbounded preceding)',
            'c.minor_unit_exponent') }} as usage_mrr_cents,
        sum(p.lines_delta) over (partition by p.customer_id order by p.changed_at rows unbounded preceding) > 0
            as is_subscribed
    from points as p
    inner join customers as c using (customer_id)
),

{#- only the instants where the rounded MRR or the subscribed state changes (a renewal at the same price is none) -#}
real_changes as (
    select *
    from (
        select
            *,
            lag(committed_mrr_cents) over by_time as prev_committed_cents,
            lag(usage_mrr_cents) over by_time as prev_usage_cents,
            lag(is_subscribed) over by_time as prev_is_subscribed
        from levels
        window by_time as (partition by customer_id order by changed_at)
    )
    where prev_is_subscribed is null
       or committed_mrr_cents <> prev_committed_cents
       or usage_mrr_cents <> prev_usage_cents
       or is_subscribed <> prev_is_subscribed
),

grouped as (
    select
        *,
        sum(is_new_group) over (partition by customer_id order by changed_at rows unbounded preceding) as change_no
    from (
        select
            *,
            case
                when lag(changed_at) over by_time is null then 1
                when changed_at - lag(changed_at) over by_time > interval 60 minute then 1
                when month <> lag(month) over by_time then 1
                else 0
            end as is_new_group
        from real_changes
        window by_time as (partition by customer_id order by changed_at)
    )
),

changes as (
    select
        customer_id,
        change_no,
        any_value(currency) as currency,
        any_value(minor_unit_exponent) as minor_unit_exponent,
        any_value(timezone) as timezone,
        any_value(month) as month,
        min(changed_at) as changed_at,
        max(changed_at) as last_changed_at,
        count(*) as changes_count,
        arg_max(committed_mrr_cents, changed_at) as committed_mrr_cents,
        arg_max(usage_mrr_cents, changed_at) as usage_mrr_cents,
        arg_max(is_subscribed, changed_at) as is_subscribed,
        string_agg(started_line_ids, ',' order by changed_at) as started_line_ids,
        string_agg(ended_line_ids, ',' order by changed_at) as ended_line_ids
    from grouped
    group by customer_id, change_no
),

episodes as (
    select
        *,
        committed_mrr_cents + usage_mrr_cents as mrr_cents,
        {#- an episode: from becoming subscribed until no line is in force -#}
        sum(case when is_subscribed and not coalesce(prev_is_subscribed, false) then 1 else 0 end)
            over (partition by customer_id order by change_no rows unbounded preceding) as episode_no
    from (
        select *, lag(is_subscribed) over (partition by customer_id order by change_no) as prev_is_subscribed
        from changes
    )
),

activity as (
    select
        *,
        is_subscribed and change_no >= min(case when is_subscribed and mrr_cents > 0 then change_no end)
            over (partition by customer_id, episode_no) as is_active
    from episodes
),

compared as (
    select
        *,
        coalesce(lag(is_active) over by_change, false) as was_active,
        coalesce(
            bool_or(is_active) over (
                partition by customer_id order by change_no rows between unbounded preceding and 1 preceding
            ),
            false
        ) as was_ever_active,
        coalesce(lag(committed_mrr_cents) over by_change, 0) as previous_committed_mrr_cents,
        coalesce(lag(usage_mrr_cents) over by_change, 0) as previous_usage_mrr_cents,
        coalesce(lag(mrr_cents) over by_change, 0) as previous_mrr_cents
    from activity
    window by_change as (partition by customer_id order by change_no)
)

select
    customer_id,
    change_no,
    currency,
    minor_unit_exponent,
    timezone,
    month,
    changed_at,
    last_changed_at,
    changes_count,
    previous_committed_mrr_cents,
    previous_usage_mrr_cents,
    previous_mrr_cents,
    committed_mrr_cents,
    usage_mrr_cents,
    mrr_cents,
    committed_mrr_cents - previous_committed_mrr_cents as committed_change_cents,
    usage_mrr_cents - previous_usage_mrr_cents as usage_change_cents,
    mrr_cents - previous_mrr_cents as mrr_change_cents,
    is_subscribed,
    coalesce(is_active, false) as is_active,
    was_active,
    case
        when not was_active and coalesce(is_active, false)
            then case when was_ever_active then 'reactivation' else 'new_business' end
        when was_active and not coalesce(is_active, false) then 'churn'
        when was_active and mrr_cents > previous_mrr_cents then 'expansion'
        when was_active and mrr_cents < previous_mrr_cents then 'contraction'
    end as movement_type,
    started_line_ids,
    ended_line_ids
from compared
