{#-
  The price ranges of graduated, volume and graduated_percentage charges, one row per range, for the
  charge's own properties (filter_key '') and for each charge filter's properties (filter_key = filter_id),
  per pricing scenario ('live' = the catalog; see stg_catalog__scenario_charges).
  Amounts are decimal strings in the catalog, typed here once, exactly.
    prev_to_value    the previous range's to_value (null for the first)
    is_adjacent_all  there are several ranges and each starts at the previous range's to_value (adjacent,
                     decimal boundaries); otherwise the ranges are classic (each starts at the previous
                     to_value + 1)
-#}
with

charges as (select * from {{ ref('stg_catalog__scenario_charges') }}),

prices as (
    select scenario, charge_id, '' as filter_key, charge_model, properties from charges
    union all
    select f.scenario, f.charge_id, f.filter_id, c.charge_model, f.properties
    from {{ ref('stg_catalog__scenario_charge_filters') }} as f
    inner join charges as c using (scenario, charge_id)
),

range_lists as (
    select
        scenario,
        charge_id,
        filter_key,
        charge_model,
        cast(
            case charge_model
                when 'graduated' then properties -> 'graduated_ranges'
                when 'volume' then properties -> 'volume_ranges'
                when 'graduated_percentage' then properties -> 'graduated_percentage_ranges'
            end
            as json[]
        ) as ranges
    from prices
    where charge_model in ('graduated', 'volume', 'graduated_percentage')
),

ranges as (
    select
        scenario,
        charge_id,
        filter_key,
        charge_model,
        unnest(ranges) as price_range,
        generate_subscripts(ranges, 1) as range_index
    from range_lists
),

typed as (
    select
        scenario,
        charge_id,
        filter_key,
        charge_model,
        range_index,
        cast(price_range ->> 'from_value' as {{ quantity_type() }}) as from_value,
        cast(price_range ->> 'to_value' as {{ quantity_type() }}) as to_value,
        cast(price_range ->> 'per_unit_amount' as {{ quantity_type() }}) as per_unit_amount,
        cast(price_range ->> 'rate' as {{ quantity_type() }}) as rate,
        cast(coalesce(price_range ->> 'flat_amount', '0') as {{ quantity_type() }}) as flat_amount
    from ranges
),

with_previous as (
    select *, lag(to_value) over (partition by scenario, charge_id, filter_key order by range_index) as prev_to_value
    from typed
)

select
    *,
    {#- a single range has no pair to be adjacent: it counts as classic (a lone 1-and-up range bills every unit) -#}
    bool_and(range_index = 1 or from_value = prev_to_value) over by_price
        and count(*) over by_price > 1 as is_adjacent_all
from with_previous
window by_price as (partition by scenario, charge_id, filter_key)
