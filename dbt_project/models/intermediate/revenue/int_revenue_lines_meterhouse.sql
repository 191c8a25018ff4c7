{#-
  Meterhouse's invoice lines as MRR lines (SEMANTICS.md "Revenue (MRR)", ChartMogul's definitions): one row
  per fee (fee_id) with a service period, from billing.fct_invoice_lines (issued lines as issued, the others
  as the data stands, and the adjustment lines that bill a late increase of the same fee).

    amount      the line's exact amount (precise_amount, before rounding: a proration normalized to a full
                month would otherwise magnify the line's rounding, 33.33 for 10 of 30 days giving 99.99 a
                month), plus its share of the invoice's discount (a coupon's discount line, allocated to the
                invoice's fee lines in proportion to their amounts, as SEMANTICS.md allocates it), plus the
                fee's adjustment lines. Tax lines are not revenue. Credit notes (decreases found after
                issue) are not invoice lines: they are cash, not MRR (int_revenue_cash).
    normalized  amount x days in the full period / days the line was prorated by / months in the billing
                interval: subscription fees are prorated by their billable days (trial days are free),
                charges, spending minimums and minimum commitments by the local days of their service
                window. Months in the interval: the calendar months of the full period (1, 3 or 12: periods
                are built from the plan's interval), a 7-day week counts 12/52 of a month (x 52 / 12).
    component   committed: subscription (base fee), minimum_commitment, spending_minimum;
                usage: charge (usage counts in the month it happened: its service period)
    in force    [in_force_from_at, in_force_to_at): the service window, from the end of the trial for a
                base fee (the trial days are not billed, so the fee is not in force during them).
-#}
with

lines as (select * from {{ ref('fct_invoice_lines') }}),

windows as (select service_window_id, trial_end_at from {{ ref('int_billing_periods') }}),

currencies as (select currency, minor_unit_exponent from {{ ref('currencies') }}),

invoice_discounts as (
    select invoice_id, sum(cast(precise_amount as decimal(38, 12))) as discount_amount
    from lines
    where fee_type = 'discount'
    group by invoice_id
),

{#- a discount is allocated to the invoice's own fee lines (not to adjustment lines of earlier invoices) -#}
discount_bases as (
    select invoice_id, sum(amount_cents) as base_cents
    from lines
    where line_kind = 'fee' and fee_type not in ('discount', 'tax', 'credit')
    group by invoice_id
),

priced as (
    select
        l.*,
        cast(l.precise_amount as {{ precise_type() }})
        + case
            when l.line_kind = 'fee' and d.discount_amount is not null and b.base_cents <> 0
                then cast({{ div_exact('d.discount_amount * l.amount_cents', 'b.base_cents') }} as {{ precise_type() }})
            else cast(0 as {{ precise_type() }})
        end as net_amount
    from lines as l
    left join invoice_discounts as d using (invoice_id)
    left join discount_bases as b using (invoice_id)
    -- a prepaid credit drawn (fee_type credit) is how the invoice is paid, not its price: never MRR
    where l.fee_type not in ('discount', 'tax', 'credit')
),

fees as (
    select
        fee_id,
        any_value(customer_id) as customer_id,
        any_value(currency) as currency,
        {#- descriptive columns of the newest line of the fee (an adjustment carries the fee as it stands) -#}
        arg_max(timezone, issue_at) as timezone,
        arg_max(subscription_id, issue_at) as subscription_id,
        arg_max(plan_code, issue_at) as plan_code,
        arg_max(service_window_id, issue_at) as service_window_id,
        any_value(fee_type) as fee_type,
        arg_max(billable_metric_code, issue_at) as billable_metric_code,
        arg_max(service_start_at, issue_at) as service_start_at,
        arg_max(service_end_at, issue_at) as service_end_at,
        arg_max(period_start_at, issue_at) as period_start_at,
        arg_max(period_end_at, issue_at) as period_end_at,
        sum(net_amount) as net_amount,
        sum(units) as units,
        bool_and(invoice_status = 'issued') as is_issued,
        count(*) as invoice_lines_count,
        string_agg(invoice_line_id, ',' order by issue_at, invoice_line_id) as invoice_line_ids
    from priced
    group by fee_id
),

measured as (
    select
        f.*,
        cur.minor_unit_exponent,
        date_diff('day', {{ to_local('f.period_start_at', 'f.timezone') }}, {{ to_local('f.period_end_at', 'f.timezone') }})
            as days_in_period,
        date_diff('day',
            date_trunc('day', {{ to_local('f.service_start_at', 'f.timezone') }}),
            date_trunc('day', {{ to_local('f.service_end_at - interval 1 microsecond', 'f.timezone') }})
        ) + 1 as service_days,
        date_diff('month', {{ to_local('f.period_start_at', 'f.timezone') }}, {{ to_local('f.period_end_at', 'f.timezone') }})
            as period_months,
        w.trial_end_at
    from fees as f
    inner join currencies as cur using (currency)
    left join windows as w using (service_window_id)
),

normalized as (
    select
        *,
        case
            when days_in_period = 7 then 'weekly'
            when period_months = 1 then 'monthly'
            when period_months = 3 then 'quarterly'
            when period_months = 12 then 'yearly'
        end as billing_interval,
        {#- base fees are prorated by billable days (units), the others by the days of their window -#}
        case when fee_type = 'subscription' then cast(units as integer) else service_days end as proration_days
    from measured
)

select
    'mh:' || fee_id as revenue_line_id,
    'meterhouse' as revenue_source,
    customer_id,
    currency,
    minor_unit_exponent,
    timezone,
    subscription_id,
    plan_code,
    fee_type,
    billable_metric_code,
    case when fee_type = 'charge' then 'usage' else 'committed' end as mrr_component,
    billing_interval,
    days_in_period,
    proration_days,
    service_start_at,
    service_end_at,
    case
        when fee_type = 'subscription' and trial_end_at > service_start_at then trial_end_at
        else service_start_at
    end as in_force_from_at,
    service_end_at as in_force_to_at,
    net_amount,
    case
        when billing_interval is null
            then error('int_revenue_lines_meterhouse: fee ' || fee_id || ' has a period of ' || days_in_period
                       || ' days that is no billing interval (weekly, monthly, quarterly, yearly)')
        when proration_days <= 0 then cast(0 as {{ precise_type() }})
        else cast({{ div_exact(
            'cast(net_amount as decimal(38, 12)) * days_in_period'
                ~ ' * case billing_interval when \'weekly\' then 52 else 1 end',
            'proration_days * case billing_interval when \'weekly\' then 12 when \'quarterly\' then 3'
                ~ ' when \'yearly\' then 12 else 1 end'
        ) }} as {{ precise_type() }})
    end as mrr_amount,
    is_issued,
    invoice_lines_count,
    invoice_line_ids
from normalized
