{#- Helpers of the revenue models (models/marts/revenue, SEMANTICS.md "Revenue (MRR)"). -#}

{#- num / den for two decimals (a ratio of money amounts, say), as decimal(38, 12) rounded half away from
    zero at the 12th decimal; null when den is 0. Both are taken at 12 decimals and scaled to whole numbers,
    so the division is div_exact's exact integer division (|num| and |den| below 8.5e13). -#}
{% macro ratio_exact(num, den) -%}
    case
        when cast({{ den }} as decimal(38, 12)) = 0 then null
        else {{ div_exact(_scaled12(num), _scaled12(den)) }}
    end
{%- endmacro %}

{#- A customer's local month (YYYY-MM) of a UTC instant: months follow the customer's billing timezone. -#}
{% macro local_month(ts_utc, tz) -%}
    strftime({{ to_local(ts_utc, tz) }}, '%Y-%m')
{%- endmacro %}

{#- The UTC instant a local month (YYYY-MM) starts at in timezone tz; month_offset 1 = the month's end. -#}
{% macro local_month_start_at(month, tz, month_offset=0) -%}
    {{ from_local("cast(strptime(" ~ month ~ " || '-01', '%Y-%m-%d') as timestamp) + to_months(" ~ month_offset ~ ")", tz) }}
{%- endmacro %}

{#- Minor units of a currency (exponent: its minor-unit exponent) in the reporting currency at `rate`, exact:
    DECIMAL(38, 24) like precise_amount (a converted amount is not an invoice line, it is not rounded). -#}
{% macro to_reporting(cents, rate='fx_rate', exponent='minor_unit_exponent') -%}
    cast({{ minor_to_major(cents, exponent) }} * {{ rate }} as {{ precise_type() }})
{%- endmacro %}
