{#-
  Rating: every meter row priced by its charge model (SEMANTICS.md "Charge models", Lago's properties),
  exactly, never rounded here (int_fees rounds each line once). A filter's line is priced with the
  filter's properties, the default line with the charge's.
    standard              units x amount
    package               ceil(max(units - free_units, 0) / package_size) x amount
    graduated, volume, graduated_percentage: from int_charge_price_ranges, below
    percentage            from the window's events in order, below
  The one place charges are priced: anything that prices usage (previews, quotes) must run this model.
  Pricing scenarios: every meter is priced once per scenario that bills its charge ('live' = the
  catalog; DIR/scenarios/*.yml, see stg_catalog__scenario_charges), in this one pass over the meters.
  Only scenario = 'live' ever reaches an invoice (int_fees' consumers filter on it).
-#}
with

charges as (select * from {{ ref('stg_catalog__scenario_charges') }}),

filters as (select * from {{ ref('stg_catalog__scenario_charge_filters') }}),

meters as (
    select
        ch.scenario,
        m.*,
        ch.charge_model,
        ch.is_invoiceable,
        {#- a filter's own properties price its line; the charge's price the default line -#}
        coalesce(f.properties, ch.properties) as price_properties
    from {{ ref('int_usage_meters') }} as m
    inner join charges as ch using (charge_id)
    left join filters as f on f.scenario = ch.scenario and f.filter_id = m.filter_id
),

{#-
  Range-based models (SEMANTICS.md "Charge models", Lago):
    graduated             each range reached adds units_in_range x per_unit_amount + flat_amount; a range
                          is reached when it is the first or units exceed the previous range's to_value
                          (so the walk stops at the first range whose to_value >= units, and the first flat
                          amount is charged even at zero usage); units_in_range = min(units, to) - from,
                          + 1 for classic ranges starting above 0
    graduated_percentage  the same walk, always classic, units_in_range x rate / 100 + flat_amount
    volume                one range prices all units: from <= ceil(units) and units <= to;
                          units x per_unit_amount + flat_amount, and 0 at zero units
-#}
ranged_amounts as (
    select
        m.scenario,
        m.service_window_id,
        m.charge_id,
        m.filter_id,
        m.group_key,
        sum(
            case
                when m.charge_model in ('graduated', 'graduated_percentage')
                    and (r.range_index = 1 or m.units > r.prev_to_value)
                    then cast(
                        greatest(
                            least(m.units, coalesce(r.to_value, m.units)) - r.from_value
                            + case
                                when r.from_value = 0 then 0
                                when m.charge_model = 'graduated' and r.is_adjacent_all then 0
                                else 1
                              end,
                            0)
                         * case
                             when m.charge_model = 'graduated' then cast(r.per_unit_amount as decimal(38, 14))
                             else cast(r.rate * cast(0.01 as decimal(3, 2)) as decimal(38, 14))
                           end
                         + r.flat_amount
                        as {{ precise_type() }})
                when m.charge_model = 'volume' and m.units > 0
                    and r.from_value <= ceil(m.units) and (r.to_value is null or m.units <= r.to_value)
                    then cast(m.units * r.per_unit_amount + r.flat_amount as {{ precise_type() }})
                else cast(0 as {{ precise_type() }})
            end
        ) as precise_amount
    from meters as m
    inner join {{ ref('int_charge_price_ranges') }} as r
        on r.scenario = m.scenario and r.charge_id = m.charge_id and r.filter_key = coalesce(m.filter_id, '')
    group by all
),

{#-
  percentage (SEMANTICS.md, Lago's PercentageService), from the events of the line in order (timestamp,
  then load order); an event's value is its field (sum_agg) or 1 (count_agg). With N =
  free_units_per_events and F = free_units_per_total_aggregation (0 when unset):
    running_total     cumulative sums: the first N when N > 0, else up to and including the first
                      that exceeds F when F > 0, else none
    free_units_value  0 when the last running total is 0; running_total[N-1] when 0 < N < its length;
                      the last running total when F = 0 or it is <= F; else F
    free_events       the smaller of the non-zero values among {N, count of running totals < F}, else 0
    amount            max(units - free_units_value, 0) x rate / 100
                      + max(events - free_events, 0) x fixed_amount (0 when units = 0)
  With per_transaction_min_amount or _max_amount, each event is priced on its own: while F is not used
  up an event is free when its running total is below F, the event crossing F pays for the part above
  it; with F = 0 the first N events are free; every other event costs value x rate / 100 + fixed_amount,
  raised to the minimum or lowered to the maximum.
-#}
percentage_events as (
    select
        m.scenario,
        e.service_window_id,
        e.charge_id,
        e.filter_id,
        e.group_key,
        case when m.aggregation_type = 'count_agg' then cast(1 as {{ quantity_type() }}) else e.value end as value,
        row_number() over w as event_index,
        sum(case when m.aggregation_type = 'count_agg' then cast(1 as {{ quantity_type() }}) else e.value end)
            over w as running_total
    from {{ ref('int_usage_events_charged') }} as e
    inner join meters as m
        on {{ same_line('m', 'e', scenario=false) }}
    where m.charge_model = 'percentage' and e.load_id is not null
    window w as (
        partition by m.scenario, e.service_window_id, e.charge_id, e.filter_id, e.group_key
        order by e.event_at, e.load_id, e.row_number
        rows between unbounded preceding and current row
    )
),

percentage_lines as (
    select
        m.scenario,
        m.service_window_id,
        m.charge_id,
        m.filter_id,
        m.group_key,
        m.units,
        m.events_count,
        cast(m.price_properties ->> 'rate' as {{ quantity_type() }}) * cast(0.01 as decimal(3, 2)) as rate_fraction,
        coalesce(cast(m.price_properties ->> 'fixed_amount' as {{ quantity_type() }}), 0) as fixed_amount,
        coalesce(cast(m.price_properties ->> 'free_units_per_events' as bigint), 0) as free_events_limit,
        coalesce(cast(m.price_properties ->> 'free_units_per_total_aggregation' as {{ quantity_type() }}), 0)
            as free_units_limit,
        cast(m.price_properties ->> 'per_transaction_min_amount' as {{ quantity_type() }}) as transaction_min,
        cast(m.price_properties ->> 'per_transaction_max_amount' as {{ quantity_type() }}) as transaction_max
    from meters as m
    where m.charge_model = 'percentage'
),

percentage_running as (
    select
        l.scenario,
        l.service_window_id,
        l.charge_id,
        l.filter_id,
        l.group_key,
        min(e.event_index) filter (where e.running_total > l.free_units_limit) as first_above_free_units,
        list(e.running_total order by e.event_index) filter (where e.event_index is not null) as running_totals
    from percentage_lines as l
    left join percentage_events as e
        on {{ same_line('e', 'l') }}
    group by l.scenario, l.service_window_id, l.charge_id, l.filter_id, l.group_key, l.free_units_limit
),

percentage_free as (
    select
        l.*,
        case
            when l.free_events_limit > 0 then least(l.free_events_limit, len(r.running_totals))
            when l.free_units_limit > 0 then coalesce(r.first_above_free_units, len(r.running_totals))
            else 0
        end as running_length,
        coalesce(r.running_totals, []) as running_totals
    from percentage_lines as l
    inner join percentage_running as r
        on {{ same_line('r', 'l') }}
),

percentage_free_amounts as (
    select
        *,
        case
            when coalesce(running_length, 0) = 0 or running_totals[running_length] = 0 then 0
            when free_events_limit > 0 and free_events_limit < running_length
                then running_totals[free_events_limit]
            when free_units_limit = 0 or running_totals[running_length] <= free_units_limit
                then running_totals[running_length]
            else free_units_limit
        end as free_units_value,
        coalesce(list_min(list_filter(
            [free_events_limit,
             len(list_filter(running_totals[1:running_length], lambda t: t < free_units_limit))],
            lambda n: n > 0)), 0) as free_events
    from percentage_free
),

percentage_per_event as (
    select
        e.scenario,
        e.service_window_id,
        e.charge_id,
        e.filter_id,
        e.group_key,
        {#- the part of the event's value that pays, null when the event is free -#}
        case
            when l.free_units_limit > 0 then
                case
                    when max(e.running_total) over before >= l.free_units_limit
                        then e.value
                    when e.running_total < l.free_units_limit then null
                    else e.running_total - l.free_units_limit
                end
            when e.event_index <= l.free_events_limit then null
            else e.value
        end as paying_value,
        l.rate_fraction,
        l.fixed_amount,
        l.transaction_min,
        l.transaction_max
    from percentage_events as e
    inner join percentage_lines as l
        on {{ same_line('l', 'e') }}
    where l.transaction_min is not null or l.transaction_max is not null
    window before as (
        partition by e.scenario, e.service_window_id, e.charge_id, e.filter_id, e.group_key
        order by e.event_index
        rows between unbounded preceding and 1 preceding
    )
),

percentage_clamped as (
    select
        scenario,
        service_window_id,
        charge_id,
        filter_id,
        group_key,
        sum(
            case
                when transaction_min is not null and paying_value * rate_fraction + fixed_amount < transaction_min
                    then cast(transaction_min as {{ precise_type() }})
                when transaction_max is not null and paying_value * rate_fraction + fixed_amount > transaction_max
                    then cast(transaction_max as {{ precise_type() }})
                else cast(paying_value * rate_fraction + fixed_amount as {{ precise_type() }})
            end
        ) filter (where paying_value is not null) as precise_amount
    from percentage_per_event
    group by all
),

percentage_amounts as (
    select
        f.scenario,
        f.service_window_id,
        f.charge_id,
        f.filter_id,
        f.group_key,
        case
            when f.transaction_min is not null or f.transaction_max is not null
                then cast(coalesce(c.precise_amount, 0) as {{ precise_type() }})
            when f.units = 0 then cast(0 as {{ precise_type() }})
            else cast(
                cast(greatest(f.units - f.free_units_value, 0) * f.rate_fraction as {{ precise_type() }})
                + cast(greatest(f.events_count - f.free_events, 0) * f.fixed_amount as {{ precise_type() }})
                as {{ precise_type() }})
        end as precise_amount
    from percentage_free_amounts as f
    left join percentage_clamped as c
        on {{ same_line('c', 'f') }}
),

amounts as (
    select
        m.scenario,
        m.service_window_id,
        m.subscription_id,
        m.charge_id,
        m.filter_id,
        m.group_key,
        m.billable_metric_code,
        m.charge_model,
        m.units,
        m.events_count,
        case m.charge_model
            when 'standard' then cast(m.price_properties ->> 'amount' as {{ quantity_type() }})
            when 'package' then cast(m.price_properties ->> 'amount' as {{ quantity_type() }})
        end as unit_amount,
        {#- each branch cast to the precise type: DuckDB unifies CASE branches of different decimal
            scales to a narrower one (here 12 decimals), which would round a line before int_fees does -#}
        case m.charge_model
            when 'standard' then cast(
                m.units * cast(m.price_properties ->> 'amount' as {{ quantity_type() }}) as {{ precise_type() }})
            {#- package: ceil(max(units - free_units, 0) / package_size) x amount -#}
            when 'package' then cast(
                ceil({{ div_ceil(
                    "greatest(m.units - cast(m.price_properties ->> 'free_units' as " ~ quantity_type() ~ "), 0)",
                    "cast(m.price_properties ->> 'package_size' as bigint)") }})
                * cast(m.price_properties ->> 'amount' as {{ quantity_type() }}) as {{ precise_type() }})
            when 'percentage' then cast(p.precise_amount as {{ precise_type() }})
            else cast(r.precise_amount as {{ precise_type() }})
        end as precise_amount,
        m.service_start_at,
        m.service_end_at,
        m.is_invoiceable
    from meters as m
    left join ranged_amounts as r
        on {{ same_line('r', 'm') }}
    left join percentage_amounts as p
        on {{ same_line('p', 'm') }}
    where m.charge_model in ('standard', 'package', 'graduated', 'volume', 'graduated_percentage', 'percentage')
)

select * from amounts
