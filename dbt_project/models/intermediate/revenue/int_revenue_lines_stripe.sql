{#-
  Stripe invoice lines Meterhouse did not publish, as MRR lines: what a company bills natively in Stripe
  (seats on a Stripe subscription, say) is part of its MRR (SEMANTICS.md "Revenue (MRR)").

    invoices    finalized ones (open, paid, uncollectible; drafts can still change or be deleted, voided
                ones were never owed), not deleted, that Meterhouse did not publish: no
                metadata.meterhouse_invoice_id, not in the publication ledger, no line naming a Meterhouse line
                (reconciliation identifies Meterhouse's invoices the same way).
    lines       priced by a recurring price (one-time items are not MRR) over a period that lasts
                (period_end > period_start). Refunds and credit notes are cash, not MRR (int_revenue_cash).
    amount      the line's amount less its discounts (Stripe's line amount is before discounts and excludes
                tax), in the invoice currency.
    normalized  amount x full period / the line's period (seconds; a full line gives 1, a proration line is
                scaled to its full period, so "unused time" and "remaining time" lines net to the new price)
                / months in the price's interval (month x count; year x 12 x count; week: x 52 / 12 / count;
                day: x 365 / 12 / count).
    component   usage for metered prices (recurring.usage_type metered: billed in arrears for the period the
                usage happened), committed otherwise.
    customer    the Meterhouse customer the Stripe customer carries (metadata.meterhouse_customer_id), else
                the Stripe customer id; its timezone is the Meterhouse customer's, else UTC.
-#}
with

published as (
    select stripe_invoice_id
    from {{ ref('stg_stripe__published_documents') }}
    where document_type = 'invoice' and stripe_invoice_id is not null
),

all_lines as (select * from {{ ref('stg_stripe__invoice_lines') }}),

invoices as (
    select i.*
    from {{ ref('stg_stripe__invoices') }} as i
    where not coalesce(i.is_deleted, false)
      and i.invoice_status in ('open', 'paid', 'uncollectible')
      and i.meterhouse_invoice_id is null
      and i.stripe_invoice_id not in (select stripe_invoice_id from published)
      and i.stripe_invoice_id not in (
          select stripe_invoice_id from all_lines where meterhouse_invoice_line_id is not null
      )
),

prices as (select * from {{ ref('stg_stripe__prices') }}),

stripe_customers as (select stripe_customer_id, customer_id from {{ ref('stg_stripe__customers') }}),

customers as (select customer_id, timezone from {{ ref('stg_accounts__customers') }}),

currencies as (select currency, minor_unit_exponent from {{ ref('currencies') }}),

lines as (
    select
        l.stripe_invoice_line_id,
        l.stripe_invoice_id,
        l.stripe_subscription_id,
        coalesce(sc.customer_id, i.stripe_customer_id) as customer_id,
        i.currency,
        cur.minor_unit_exponent,
        coalesce(c.timezone, 'UTC') as timezone,
        coalesce(p.plan_code, p.stripe_price_id) as plan_code,
        case when p.usage_type = 'metered' then 'usage' else 'committed' end as mrr_component,
        p.recurring_interval,
        coalesce(p.recurring_interval_count, 1) as interval_count,
        l.period_start_at,
        l.period_end_at,
        case p.recurring_interval
            when 'day' then l.period_start_at + to_days(cast(coalesce(p.recurring_interval_count, 1) as integer))
            when 'week' then l.period_start_at + to_days(cast(7 * coalesce(p.recurring_interval_count, 1) as integer))
            when 'month' then l.period_start_at + to_months(cast(coalesce(p.recurring_interval_count, 1) as integer))
            when 'year' then l.period_start_at + to_months(cast(12 * coalesce(p.recurring_interval_count, 1) as integer))
        end as full_period_end_at,
        cast(l.amount_cents - coalesce(l.discount_amount_cents, 0) as bigint) as net_cents,
        i.invoice_status
    from all_lines as l
    inner join invoices as i using (stripe_invoice_id)
    inner join prices as p using (stripe_price_id)
    inner join currencies as cur on cur.currency = i.currency
    left join stripe_customers as sc on sc.stripe_customer_id = i.stripe_customer_id
    left join customers as c on c.customer_id = sc.customer_id
    where p.price_type = 'recurring'
      and p.recurring_interval in ('day', 'week', 'month', 'year')
      and l.period_end_at > l.period_start_at
),

measured as (
    select
        *,
        date_diff('second', period_start_at, full_period_end_at) as full_period_seconds,
        date_diff('second', period_start_at, period_end_at) as line_period_seconds,
        {{ minor_to_major('net_cents', 'minor_unit_exponent') }} as net_amount
    from lines
)

select
    'stripe:' || stripe_invoice_line_id as revenue_line_id,
    'stripe' as revenue_source,
    customer_id,
    currency,
    minor_unit_exponent,
    timezone,
    stripe_subscription_id as subscription_id,
    plan_code,
    case mrr_component when 'usage' then 'charge' else 'subscription' end as fee_type,
    cast(null as varchar) as billable_metric_code,
    mrr_component,
    case recurring_interval
        when 'day' then 'daily' when 'week' then 'weekly' when 'month' then 'monthly' else 'yearly'
    end || case when interval_count <> 1 then ' x' || interval_count else '' end as billing_interval,
    cast(null as integer) as days_in_period,
    cast(null as integer) as proration_days,
    period_start_at as service_start_at,
    period_end_at as service_end_at,
    period_start_at as in_force_from_at,
    period_end_at as in_force_to_at,
    cast(net_amount as {{ precise_type() }}) as net_amount,
    cast({{ div_exact(
        'net_amount * full_period_seconds * case recurring_interval when \'day\' then 365'
            ~ ' when \'week\' then 52 else 1 end',
        'line_period_seconds * interval_count * case recurring_interval when \'month\' then 1 else 12 end'
    ) }} as {{ precise_type() }}) as mrr_amount,
    true as is_issued,
    1 as invoice_lines_count,
    stripe_invoice_line_id as invoice_line_ids
from measured
