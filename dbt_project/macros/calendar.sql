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

{#-
  The settings of a build: a --vars value wins (tests, previews, rebuilds), else the row the orchestration
  wrote to raw.run_context before the build (so dbt keeps partial parsing between runs). The clock falls
  back to now(), the others to their documented defaults.
-#}
{% macro run_setting(name, sql_type, default_sql) -%}
    {%- if var(name, none) is not none -%}
        cast('{{ var(name) }}' as {{ sql_type }})
    {%- else -%}
        coalesce((select cast({{ name }} as {{ sql_type }}) from {{ source('raw', 'run_context') }}), {{ default_sql }})
    {%- endif -%}
{%- endmacro %}

{% macro clock() -%}{{ run_setting('billing_clock', 'timestamp', 'cast(now() as timestamp)') }}{%- endmacro %}
{% macro grace_period_hours() -%}{{ run_setting('grace_period_hours', 'integer', '72') }}{%- endmacro %}
{% macro future_margin_hours() -%}{{ run_setting('future_margin_hours', 'integer', '24') }}{%- endmacro %}
{% macro close_through_month() -%}{{ run_setting('close_through_month', 'varchar', 'null') }}{%- endmacro %}
{#- meterhouse.yml stripe.publish_from: the first billing month published to Stripe (null = every month) -#}
{% macro publish_from() -%}{{ run_setting('publish_from', 'varchar', 'null') }}{%- endmacro %}

{#- Rebuild "as of" a past load: only rows loaded at or before var('as_of_loaded_at') (unset: all rows). -#}
{% macro as_of_filter(column='loaded_at') -%}
    {%- if var('as_of_loaded_at') %}where {{ column }} <= cast('{{ var("as_of_loaded_at") }}' as timestamp){% endif -%}
{%- endmacro %}
