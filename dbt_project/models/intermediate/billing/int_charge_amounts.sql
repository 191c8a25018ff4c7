{#-
  Rating: every meter row priced by its charge model (SEMANTICS.md "Charge models", Lago's properties),
  exactly, never rounded here (int_fees rounds each line once). A filter's line is priced with the
  filter's properties, the default line with the charge's.
    standard              units x amount
    package               ceil(max(units - free_units, 0) / package_size) x amount
    graduated, volume, graduated_percentage: from int_charge_price_ranges, below
  The one place charges are priced: anything that prices usage (previews, quotes) must run this model.
-#}
with

charges as (select * from {{ ref('stg_catalog__charges') }}),

filters as (select * from {{ ref('stg_catalog__charge_filters') }}),

meters as (
    select
        m.*,
        ch.charge_model,
        ch.is_invoiceable,
        {#- a filter's own properties price its line; the charge's price the default line -#}
        coalesce(f.properties, ch.properties) as price_properties
    from {{ ref('int_usage_meters') }} as m
    inner join charges as ch using (charge_id)
    left join filters as f using (filter_id)
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
        m.service_window_id,
        m.charge_id,
        m.filter_id,
        m.group_key,
        sum(
            case
                when m.charge_model in ('graduated', 'graduated_percentage')
                    and (r.range_index = 1 or m.units > r.prev_to_value)
                    then greatest(
                            least(m.units, coalesce(r.to_value, m.units)) - r.from_value
                            + case
                                when r.from_value = 0 then 0
                                when m.charge_model = 'graduated' and r.is_adjacent_all then 0
                                else 1
                              end,
                            0)
                         * case
                             when m.charge_model = 'graduated' then r.per_unit_amount
                             else r.rate * cast(0.01 as decimal(3, 2))
                           end
                         + r.flat_amount
                when m.charge_model = 'volume' and m.units > 0
                    and r.from_value <= ceil(m.units) and (r.to_value is null or m.units <= r.to_value)
                    then m.units * r.per_unit_amount + r.flat_amount
                else 0
            end
        ) as precise_amount
    from meters as m
    inner join {{ ref('int_charge_price_ranges') }} as r
        on r.charge_id = m.charge_id and r.filter_key = coalesce(m.filter_id, '')
    group by all
),

amounts as (
    select
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
        cast(
            case m.charge_model
                when 'standard' then m.units * cast(m.price_properties ->> 'amount' as {{ quantity_type() }})
                {#- package: ceil(max(units - free_units, 0) / package_size) x amount -#}
                when 'package' then
                    ceil({{ div_ceil(
                        "greatest(m.units - cast(m.price_properties ->> 'free_units' as " ~ quantity_type() ~ "), 0)",
                        "cast(m.price_properties ->> 'package_size' as bigint)") }})
                    * cast(m.price_properties ->> 'amount' as {{ quantity_type() }})
                else r.precise_amount
            end
            as {{ precise_type() }}
        ) as precise_amount,
        m.service_start_at,
        m.service_end_at,
        m.is_invoiceable
    from meters as m
    left join ranged_amounts as r
        on r.service_window_id = m.service_window_id
        and r.charge_id = m.charge_id
        and r.filter_id is not distinct from m.filter_id
        and r.group_key = m.group_key
    where m.charge_model in ('standard', 'package', 'graduated', 'volume', 'graduated_percentage')
)

select * from amounts
