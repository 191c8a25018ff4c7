{#-
  Exact arithmetic for money and quantities (see README "Money").

  Working types, one place:
    quantity  : decimal(38, 12)  units, meter values, per-unit prices
    precise   : decimal(38, 24)  amounts before rounding (a product of two working decimals is exact here)
    minor     : bigint           an invoice line's amount in the currency's minor unit, rounded once

  DuckDB returns DOUBLE for DECIMAL / DECIMAL, so every division goes through `div_exact` (or
  `div_ceil`), which divides a scaled HUGEINT by a whole-number denominator and rounds half away from
  zero at 12 decimals. Divisions by a decimal are written as multiplications (rate / 100 = rate * 0.01).
-#}
{% macro quantity_type() %}decimal(38, 12){% endmacro %}
{% macro precise_type() %}decimal(38, 24){% endmacro %}

{#- x x 10^12 as an exact HUGEINT (x at most 12 decimals). Split in whole and fractional parts: a DECIMAL(38,12)
    times 10^12 would overflow DECIMAL's 38 digits long before HUGEINT's. -#}
{% macro _scaled12(x) -%}
    (cast(trunc(cast({{ x }} as decimal(38, 12))) as hugeint) * 1000000000000
     + cast((cast({{ x }} as decimal(38, 12)) - trunc(cast({{ x }} as decimal(38, 12)))) * 1000000000000 as hugeint))
{%- endmacro %}

{#- num / den as decimal(38, 12), rounded half away from zero at the 12th decimal. `den` must be a whole
    number (days, microseconds, a power of ten); num any decimal with at most 12 decimals, |num| < 8.5e25. -#}
{% macro div_exact(num, den) -%}
    (
        cast(
            sign({{ _scaled12(num) }}) * sign(cast({{ den }} as hugeint))
            * ((2 * abs({{ _scaled12(num) }}) + abs(cast({{ den }} as hugeint)))
               // (2 * abs(cast({{ den }} as hugeint))))
            as decimal(38, 0)
        ) * cast('1e-12' as decimal(38, 12))
    )
{%- endmacro %}

{#- Ceiling of num / den at the 12th decimal (Lago ceils weighted and prorated meters); same limits. -#}
{% macro div_ceil(num, den) -%}
    (
        cast(
            case
                when sign({{ _scaled12(num) }}) * sign(cast({{ den }} as hugeint)) >= 0
                    then (abs({{ _scaled12(num) }}) + abs(cast({{ den }} as hugeint)) - 1)
                         // abs(cast({{ den }} as hugeint))
                else -(abs({{ _scaled12(num) }}) // abs(cast({{ den }} as hugeint)))
            end
            as decimal(38, 0)
        ) * cast('1e-12' as decimal(38, 12))
    )
{%- endmacro %}

{#- Round a precise amount once to the currency's minor unit, half away from zero; returns bigint minor units. -#}
{% macro to_minor_units(amount, exponent) -%}
    cast(round(cast({{ amount }} as {{ precise_type() }}) * cast(case {{ exponent }} when 0 then 1 when 1 then 10 when 2 then 100 when 3 then 1000 end as decimal(38, 0)), 0) as bigint)
{%- endmacro %}

{#- Minor units back to the major unit, exact. -#}
{% macro minor_to_major(cents, exponent) -%}
    (cast({{ cents }} as decimal(38, 0)) * case {{ exponent }}
        when 0 then cast(1 as decimal(38, 3)) when 1 then cast(0.1 as decimal(38, 3))
        when 2 then cast(0.01 as decimal(38, 3)) else cast(0.001 as decimal(38, 3)) end)
{%- endmacro %}

{#- A metric's optional rounding of its aggregated total (round = half away from zero). Precision 0..12,
    every branch with a constant precision so DuckDB keeps DECIMAL (a column precision gives DOUBLE). -#}
{% macro apply_metric_rounding(value, rounding_function, rounding_precision) -%}
    {#- every branch cast back to the quantity type: DuckDB unifies DECIMAL(38,12) with DECIMAL(38,0) as (38,0) -#}
    case
        when {{ rounding_function }} is null then cast({{ value }} as {{ quantity_type() }})
        {%- for p in range(0, 13) %}
        when {{ rounding_precision }} = {{ p }} then case {{ rounding_function }}
            when 'round' then cast(round(cast({{ value }} as decimal(38, 12)), {{ p }}) as {{ quantity_type() }})
            when 'ceil' then cast(ceil(cast({{ value }} as decimal(38, 12)) * {{ 10 ** p }}) * cast('1e-{{ p }}' as decimal(38, {{ p }})) as {{ quantity_type() }})
            when 'floor' then cast(floor(cast({{ value }} as decimal(38, 12)) * {{ 10 ** p }}) * cast('1e-{{ p }}' as decimal(38, {{ p }})) as {{ quantity_type() }})
        end
        {%- endfor %}
    end
{%- endmacro %}

{#- amount_cents x days / days_in_period, in the major unit, exact at 12 decimals (proration by days). -#}
{% macro prorated_major(amount_cents, days, days_in_period, exponent) -%}
    {{ div_exact(
        amount_cents ~ ' * ' ~ days,
        days_in_period ~ ' * case ' ~ exponent ~ ' when 0 then 1 when 1 then 10 when 2 then 100 else 1000 end'
    ) }}
{%- endmacro %}

{#- A minimum (minor units) prorated by days served, less what the lines bill (minor units), in the major
    unit, exact: the true-up of spending minimums and minimum commitments. -#}
{% macro prorated_shortfall(minimum_cents, billed_cents, days, days_in_period, exponent) -%}
    cast(
        {{ prorated_major(minimum_cents, days, days_in_period, exponent) }}
        - {{ minor_to_major(billed_cents, exponent) }}
        as {{ precise_type() }}
    )
{%- endmacro %}
