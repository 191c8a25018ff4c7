{#- The properties of each live charge filter per pricing scenario ('live' = the catalog's own). -#}
with

live as (
    select 'live' as scenario, filter_id, charge_id, properties
    from {{ ref('stg_catalog__charge_filters') }}
),

scenarios as (
    select s.scenario, s.live_filter_id as filter_id, f.charge_id, s.properties
    from {{ source('raw', 'scenario_charge_filters') }} as s
    inner join {{ ref('stg_catalog__charge_filters') }} as f on f.filter_id = s.live_filter_id
)

select * from live
union all
select * from scenarios
