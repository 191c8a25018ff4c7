{#-
  Fees (invoice lines) as the data stands now, before issuing:
    subscription  the plan's base fee for a service window (not for a subscription from Stripe, whose base
                  fee Stripe bills); a partial window is prorated by local days,
                  days x (amount / days in the full period), computed exactly (div_exact) and rounded once
                  at the line; trial days are free. In arrears it is invoiced at the window's end, in advance
                  at its start (so the invoice at the end of P carries P's usage and P+1's base fee).
    spending_minimum  the shortfall of a charge below its prorated min_amount_cents (below)
    minimum_commitment  the shortfall of a window's fees below the plan's prorated minimum commitment
    discount      a coupon's discount on an invoice (one line per coupon, in the order they apply),
                  negative, before tax (below)
    tax           one line per invoice: the customer's rate on each line, summed unrounded (below)
    charge        the charge model applied to the meter's units (standard, package, graduated, volume,
                  graduated_percentage; a filter's line is priced with the filter's properties), exact,
                  invoiced at the window's end.
  Every fee names its service window, so it can be traced to its events through int_usage_events_charged.
  One set of fees per pricing scenario (`scenario`; 'live' = the catalog): everything that invoices,
  issues or publishes reads scenario = 'live' only; the others feed the pricing experiments.
-#}
with

windows as (select * from {{ ref('int_billing_periods') }}),

plans as (select * from {{ ref('stg_catalog__plans') }}),

currencies as (select currency, minor_unit_exponent from {{ ref('currencies') }}),

base_fees as (
    select
        sp.scenario,
        w.service_window_id,
        'subscription' as fee_type,
        cast(null as varchar) as charge_id,
        cast(null as varchar) as filter_id,
        '' as group_key,
        cast(null as varchar) as billable_metric_code,
        cast(null as varchar) as charge_model,
        cast(w.billable_days as {{ quantity_type() }}) as units,
        cast(null as bigint) as events_count,
        cast({{ minor_to_major('sp.amount_cents', 'cur.minor_unit_exponent') }} as {{ quantity_type() }}) as unit_amount,
        case
            when w.billable_days = w.days_in_period
                then cast({{ minor_to_major('sp.amount_cents', 'cur.minor_unit_exponent') }} as {{ precise_type() }})
            else cast({{ prorated_major('sp.amount_cents', 'w.billable_days', 'w.days_in_period', 'cur.minor_unit_exponent') }}
                 as {{ precise_type() }})
        end as precise_amount,
        case when p.is_pay_in_advance then w.service_start_at else w.service_end_at end as issue_at,
        p.is_pay_in_advance as is_in_advance,
        true as is_invoiceable
    from windows as w
    inner join plans as p using (plan_code)
    inner join {{ ref('stg_catalog__scenario_plans') }} as sp using (plan_code)
    inner join currencies as cur on cur.currency = p.currency
    -- Stripe bills the base fee of a subscription that comes from Stripe: never twice
    where w.subscription_source is distinct from 'stripe'
),

charge_fees as (
    select
        scenario,
        service_window_id,
        'charge' as fee_type,
        charge_id,
        filter_id,
        group_key,
        billable_metric_code,
        charge_model,
        units,
        events_count,
        unit_amount,
        precise_amount,
        service_end_at as issue_at,
        false as is_in_advance,
        is_invoiceable
    from {{ ref('int_charge_amounts') }}
),

{#-
  Spending minimum (min_amount_cents on a charge): when the charge's lines in a service window come to
  less than the minimum, prorated by the window's days over the period's (days billed / days in period),
  a true-up line bills the shortfall. It is computed from the charge's rounded lines, so the charge's
  lines plus the true-up come to the prorated minimum, rounded once.
-#}
charge_lines_rounded as (
    select
        c.scenario,
        c.service_window_id,
        c.charge_id,
        sum({{ to_minor_units('c.precise_amount', 'cur.minor_unit_exponent') }}) as amount_cents
    from charge_fees as c
    inner join windows as w using (service_window_id)
    inner join currencies as cur on cur.currency = w.currency
    group by all
),

spending_minimums as (
    select
        t.scenario,
        t.service_window_id,
        'spending_minimum' as fee_type,
        t.charge_id,
        cast(null as varchar) as filter_id,
        '' as group_key,
        live_ch.billable_metric_code,
        ch.charge_model,
        cast(null as {{ quantity_type() }}) as units,
        cast(null as bigint) as events_count,
        cast({{ minor_to_major('ch.min_amount_cents', 'cur.minor_unit_exponent') }} as {{ quantity_type() }}) as unit_amount,
        {{ prorated_shortfall('ch.min_amount_cents', 't.amount_cents', 'w.service_days', 'w.days_in_period', 'cur.minor_unit_exponent') }} as precise_amount,
        w.service_end_at as issue_at,
        false as is_in_advance,
        ch.is_invoiceable
    from charge_lines_rounded as t
    inner join {{ ref('stg_catalog__scenario_charges') }} as ch using (scenario, charge_id)
    inner join {{ ref('stg_catalog__charges') }} as live_ch using (charge_id)
    inner join windows as w using (service_window_id)
    inner join currencies as cur on cur.currency = w.currency
    where ch.min_amount_cents > 0
),

fees_before_commitment as (
    select * from base_fees
    union all
    select * from charge_fees
    union all
    select * from spending_minimums where precise_amount > 0
),

{#-
  Minimum commitment (Lago, the plan's minimum_commitment.amount_cents): when a service window's fees
  (base fee, charges, spending minimums; each rounded as its line) come to less than the commitment,
  prorated by the window's days over the period's (days served / days in period, as spending minimums),
  a true-up line bills the shortfall, invoiced at the window's end. Each plan of a window (an upgrade
  splits a period) is measured against its own commitment.
-#}
window_totals as (
    select
        f.scenario,
        f.service_window_id,
        sum({{ to_minor_units('f.precise_amount', 'cur.minor_unit_exponent') }}) as amount_cents
    from fees_before_commitment as f
    inner join windows as w using (service_window_id)
    inner join currencies as cur on cur.currency = w.currency
    where f.is_invoiceable
    group by all
),

minimum_commitments as (
    select
        sp.scenario,
        w.service_window_id,
        'minimum_commitment' as fee_type,
        cast(null as varchar) as charge_id,
        cast(null as varchar) as filter_id,
        '' as group_key,
        cast(null as varchar) as billable_metric_code,
        cast(null as varchar) as charge_model,
        cast(null as {{ quantity_type() }}) as units,
        cast(null as bigint) as events_count,
        cast({{ minor_to_major('sp.minimum_commitment_cents', 'cur.minor_unit_exponent') }} as {{ quantity_type() }}) as unit_amount,
        {{ prorated_shortfall('sp.minimum_commitment_cents', 'coalesce(t.amount_cents, 0)', 'w.service_days', 'w.days_in_period', 'cur.minor_unit_exponent') }} as precise_amount,
        w.service_end_at as issue_at,
        false as is_in_advance,
        true as is_invoiceable
    from windows as w
    inner join {{ ref('stg_catalog__scenario_plans') }} as sp using (plan_code)
    inner join currencies as cur on cur.currency = w.currency
    left join window_totals as t on t.scenario = sp.scenario and t.service_window_id = w.service_window_id
    where sp.minimum_commitment_cents > 0
      -- measured against the base fee, which Stripe bills for a subscription that comes from Stripe
      and w.subscription_source is distinct from 'stripe'
),

fees_before_discount as (
    select * from fees_before_commitment
    union all
    select * from minimum_commitments where precise_amount > 0
),

{#-
  Coupons (DIR/coupons.yml, Lago): after the true-ups, before tax, one negative discount line per coupon
  and invoice it applies to. The invoices a coupon can apply to are the customer's invoices with a positive
  subtotal issued at or after its applied_at, in issue order. A customer's coupons apply to an invoice one
  after the other in applied_order (the oldest applied first, as Lago's applied-coupons loop), each on what
  the discounts before it left of the invoice (`left_cents`, whole minor units):
    percentage    left x rate / 100, rounded once as its line
    fixed_amount  up to what is left: once, the amount is used up across invoices (each takes what remains
                  of it, up to what is left); recurring and forever, up to the amount on each invoice
  never below zero. A coupon applies to an invoice only while something is left of it (an invoice the
  earlier coupons brought to zero does not use a later one up, as Lago) and while its frequency allows:
  once = a percentage's first invoice, a fixed amount's until it is spent; recurring = the first
  frequency_duration invoices it applied to; forever = every invoice.
  Each step depends on the one before on the same invoice (what is left) and on the same coupon's earlier
  invoices (uses, what is left of a fixed amount), so the steps (invoice in issue order, then coupon) are
  walked by a recursive CTE per scenario and customer, carrying per coupon (position coupon_seq in lists)
  the invoices it applied to and what is left of its amount.
  The discount lowers the tax base (tax is per line after discount, and a discount allocated to the lines
  in proportion to their amounts lowers their unrounded taxes by exactly rate x discount).
-#}
invoice_subtotals as (
    select
        f.scenario,
        w.customer_id,
        {{ invoice_id('w.customer_id', 'f.issue_at', 'w.timezone') }} as invoice_id,
        min(f.service_window_id) as service_window_id,
        max(f.issue_at) as issue_at,
        sum({{ to_minor_units('f.precise_amount', 'cur.minor_unit_exponent') }}) as subtotal_cents,
        any_value(cur.minor_unit_exponent) as minor_unit_exponent
    from fees_before_discount as f
    inner join windows as w using (service_window_id)
    inner join currencies as cur on cur.currency = w.currency
    where f.is_invoiceable
    group by all
),

customer_coupons as (
    select
        *,
        row_number() over (
            partition by customer_id order by applied_order, applied_at nulls first, coupon_code
        ) as coupon_seq
    from {{ ref('stg_accounts__applied_coupons') }}
),

{#- per customer, one list entry per coupon (by coupon_seq): invoices applied to, what is left of a fixed once -#}
coupon_start as (
    select
        customer_id,
        list(cast(0 as bigint) order by coupon_seq) as uses,
        list(
            cast(case when coupon_type = 'fixed_amount' and frequency = 'once' then amount_cents else 0 end as bigint)
            order by coupon_seq
        ) as balances
    from customer_coupons
    group by customer_id
),

coupon_steps as (
    select
        s.scenario,
        s.customer_id,
        s.invoice_id,
        s.service_window_id,
        s.issue_at,
        s.subtotal_cents,
        s.minor_unit_exponent,
        c.coupon_seq,
        c.coupon_code,
        c.coupon_type,
        c.amount_cents as coupon_cents,
        c.percentage_rate,
        c.frequency,
        c.frequency_duration,
        row_number() over (
            partition by s.scenario, s.customer_id order by s.issue_at, s.invoice_id, c.coupon_seq
        ) as step,
        row_number() over (partition by s.scenario, s.invoice_id order by c.coupon_seq) = 1 as is_first_on_invoice
    from invoice_subtotals as s
    inner join customer_coupons as c using (customer_id)
    where s.subtotal_cents > 0 and (c.applied_at is null or s.issue_at >= c.applied_at)
),

{%- set left_before = "case when s.is_first_on_invoice then s.subtotal_cents else w.left_cents end" %}
{%- set applies -%}
    ({{ left_before }} > 0 and case
        when s.frequency = 'forever' then true
        when s.frequency = 'recurring' then w.uses[s.coupon_seq] < s.frequency_duration
        when s.coupon_type = 'percentage' then w.uses[s.coupon_seq] = 0
        else w.balances[s.coupon_seq] > 0
    end)
{%- endset %}
{%- set discount_cents -%}
    case
        when not {{ applies }} then cast(0 as bigint)
        when s.coupon_type = 'percentage' then {{ to_minor_units(
            minor_to_major(left_before, 's.minor_unit_exponent')
            ~ ' * cast(s.percentage_rate as decimal(38, 12)) * cast(0.01 as decimal(3, 2))',
            's.minor_unit_exponent') }}
        when s.frequency = 'once' then least(w.balances[s.coupon_seq], {{ left_before }})
        else least(s.coupon_cents, {{ left_before }})
    end
{%- endset %}

coupon_walk as (
    with recursive walk as (
        select
            starts.scenario,
            starts.customer_id,
            cast(0 as bigint) as step,
            cast(null as varchar) as invoice_id,
            cast(null as varchar) as coupon_code,
            cast(0 as bigint) as left_before_cents,
            false as is_applied,
            cast(0 as bigint) as discount_cents,
            cast(0 as bigint) as left_cents,
            cs.uses,
            cs.balances
        from (select distinct scenario, customer_id from coupon_steps) as starts
        inner join coupon_start as cs using (customer_id)
        union all
        select
            w.scenario,
            w.customer_id,
            s.step,
            s.invoice_id,
            s.coupon_code,
            {{ left_before }},
            {{ applies }},
            {{ discount_cents }},
            {{ left_before }} - {{ discount_cents }},
            case
                when {{ applies }}
                    then list_concat(w.uses[1:s.coupon_seq - 1], [w.uses[s.coupon_seq] + 1],
                                     w.uses[s.coupon_seq + 1:len(w.uses)])
                else w.uses
            end,
            case
                when s.coupon_type = 'fixed_amount' and s.frequency = 'once'
                    then list_concat(w.balances[1:s.coupon_seq - 1], [w.balances[s.coupon_seq] - {{ discount_cents }}],
                                     w.balances[s.coupon_seq + 1:len(w.balances)])
                else w.balances
            end
        from walk as w
        inner join coupon_steps as s
            on s.scenario = w.scenario and s.customer_id = w.customer_id and s.step = w.step + 1
    )

    select
        s.*,
        walk.left_before_cents,
        walk.discount_cents
    from walk
    inner join coupon_steps as s using (scenario, customer_id, step)
    where walk.is_applied
),

discounts as (
    select
        scenario,
        service_window_id,
        'discount' as fee_type,
        cast(null as varchar) as charge_id,
        cast(null as varchar) as filter_id,
        'coupon=' || coupon_code as group_key,
        cast(null as varchar) as billable_metric_code,
        cast(null as varchar) as charge_model,
        cast(null as {{ quantity_type() }}) as units,
        cast(null as bigint) as events_count,
        case coupon_type
            when 'fixed_amount'
                then cast({{ minor_to_major('coupon_cents', 'minor_unit_exponent') }} as {{ quantity_type() }})
            else cast(percentage_rate as {{ quantity_type() }})
        end as unit_amount,
        {#- every branch cast to the precise type: DuckDB would narrow a CASE of mixed scales -#}
        -case
            when coupon_type = 'percentage'
                then cast(
                    {{ minor_to_major('left_before_cents', 'minor_unit_exponent') }}
                    * cast(percentage_rate as decimal(38, 12)) * cast(0.01 as decimal(3, 2))
                    as {{ precise_type() }})
            else cast({{ minor_to_major('discount_cents', 'minor_unit_exponent') }} as {{ precise_type() }})
        end as precise_amount,
        issue_at,
        false as is_in_advance,
        true as is_invoiceable
    from coupon_walk
),

fees_before_tax as (
    select * from fees_before_discount
    union all
    select * from discounts where precise_amount < 0
),

{#-
  Tax (the customer's rate, DIR/taxes.yml; SEMANTICS.md "Invoices", Lago): per line on the line's
  rounded amount, and one tax line per invoice whose amount is the sum of the unrounded line taxes,
  rounded once like every line. units = the taxable base, unit_amount = the rate in percent. The tax line
  rides on one of the invoice's service windows (the first) for its customer, currency and timezone,
  and is due with the invoice's last line. A later change of the invoice's lines changes its tax line
  too, so late usage carries its tax into the adjustment or credit note.
-#}
taxable_lines as (
    select
        f.scenario,
        w.customer_id,
        {{ invoice_id('w.customer_id', 'f.issue_at', 'w.timezone') }} as invoice_id,
        f.service_window_id,
        f.issue_at,
        {{ minor_to_major(to_minor_units('f.precise_amount', 'cur.minor_unit_exponent'), 'cur.minor_unit_exponent') }}
            as line_amount
    from fees_before_tax as f
    inner join windows as w using (service_window_id)
    inner join currencies as cur on cur.currency = w.currency
    where f.is_invoiceable
),

taxes as (
    select
        l.scenario,
        min(l.service_window_id) as service_window_id,
        'tax' as fee_type,
        cast(null as varchar) as charge_id,
        cast(null as varchar) as filter_id,
        'tax=' || t.tax_code as group_key,
        cast(null as varchar) as billable_metric_code,
        cast(null as varchar) as charge_model,
        cast(sum(l.line_amount) as {{ quantity_type() }}) as units,
        cast(null as bigint) as events_count,
        cast(t.tax_rate_percent as {{ quantity_type() }}) as unit_amount,
        cast(sum(l.line_amount * t.tax_rate_percent * cast(0.01 as decimal(3, 2))) as {{ precise_type() }})
            as precise_amount,
        max(l.issue_at) as issue_at,
        false as is_in_advance,
        true as is_invoiceable
    from taxable_lines as l
    inner join {{ ref('stg_accounts__customer_taxes') }} as t using (customer_id)
    group by l.scenario, l.invoice_id, t.tax_code, t.tax_rate_percent
),

fees as (
    select * from fees_before_tax
    union all
    select * from taxes
)

select
    f.scenario,
    {#- one tax line per invoice: named by its invoice, not by the window it rides on #}
    case
        when f.fee_type in ('tax', 'discount')
            then {{ invoice_id('w.customer_id', 'f.issue_at', 'w.timezone') }}
                 || '|' || f.fee_type || '|' || f.group_key
        else f.service_window_id || '|' || f.fee_type || '|' || coalesce(f.charge_id, '') || '|'
            || coalesce(f.filter_id, '') || '|' || f.group_key
    end as fee_id,
    {{ invoice_id('w.customer_id', 'f.issue_at', 'w.timezone') }} as invoice_id,
    w.customer_id,
    w.subscription_id,
    w.plan_code,
    f.service_window_id,
    f.fee_type,
    f.charge_id,
    f.filter_id,
    f.group_key,
    f.billable_metric_code,
    f.charge_model,
    w.currency,
    f.units,
    f.events_count,
    cast(f.unit_amount as {{ quantity_type() }}) as unit_amount,
    f.precise_amount,
    {{ to_minor_units('f.precise_amount', 'cur.minor_unit_exponent') }} as amount_cents,
    cur.minor_unit_exponent,
    f.is_in_advance,
    f.is_invoiceable,
    cast({{ to_local('f.issue_at', 'w.timezone') }} as date) as issue_date,
    strftime(f.issue_at, '%Y-%m') as billing_month,
    w.service_start_at,
    w.service_end_at,
    w.period_start_at,
    w.period_end_at,
    w.days_in_period,
    w.billable_days,
    w.timezone,
    f.issue_at,
    f.issue_at + to_hours({{ grace_period_hours() }}) <= {{ clock() }} as is_due
from fees as f
inner join windows as w using (service_window_id)
inner join currencies as cur on cur.currency = w.currency
