{#- Billing calendar helpers. Local = wall-clock time in the customer's timezone; stored = naive UTC. -#}

{% macro to_local(ts_utc, tz) -%}
    timezone({{ tz }}, cast({{ ts_utc }} as timestamptz))
{%- endmacro %}

{% macro from_local(ts_local, tz) -%}
    cast(timezone({{ tz }}, cast({{ ts_local }} as timestamp)) as timestamp)
{%- endmacro %}

{#- months per billing interval (weekly handled apart) -#}
{% macro interval_months(plan_interval) -%}
    case {{ plan_interval }} when 'monthly' then 1 when 'quarterly' then 3 when 'yearly' then 12 end
{%- endmacro %}

{#- Start (local) of the j-th period after `base_local`. Month arithmetic is always from the base, so an
    anniversary on the 31st gives Feb 28 then Mar 31 (DuckDB clamps to the month's end). -#}
{% macro nth_period_start(base_local, plan_interval, j) -%}
    case
        when {{ plan_interval }} = 'weekly' then {{ base_local }} + to_days(cast(7 * ({{ j }}) as integer))
        else {{ base_local }} + to_months(cast({{ interval_months(plan_interval) }} * ({{ j }}) as integer))
    end
{%- endmacro %}

{#- Base (local) of a subscription's period series: its start day (anniversary) or the calendar
    unit containing it (calendar: weeks start on Monday). -#}
{% macro period_series_base(start_local, plan_interval, billing_time) -%}
    case
        when {{ billing_time }} = 'anniversary' then date_trunc('day', {{ start_local }})
        when {{ plan_interval }} = 'weekly' then date_trunc('week', {{ start_local }})
        when {{ plan_interval }} = 'monthly' then date_trunc('month', {{ start_local }})
        when {{ plan_interval }} = 'quarterly' then date_trunc('quarter', {{ start_local }})
        else date_trunc('year', {{ start_local }})
    end
{%- endmacro %}

{#- Index j of the period (of the series starting at base_local) that contains ts_local. -#}
{% macro period_index(base_local, plan_interval, ts_local) -%}
    case
        when {{ plan_interval }} = 'weekly'
            then floor(date_diff('day', {{ base_local }}, {{ ts_local }}) / 7)
        else
            floor(date_diff('month', {{ base_local }}, {{ ts_local }}) / {{ interval_months(plan_interval) }})
            - case
                when {{ nth_period_start(base_local, plan_interval,
                        'floor(date_diff(\'month\', ' ~ base_local ~ ', ' ~ ts_local ~ ') / ' ~ interval_months(plan_interval) ~ ')') }}
                     > {{ ts_local }} then 1 else 0
              end
    end
{%- endmacro %}

{% macro clock() -%}
    {%- if var('billing_clock') -%}
        cast('{{ var("billing_clock") }}' as timestamp)
    {%- else -%}
        cast(now() as timestamp)
    {%- endif -%}
{%- endmacro %}
