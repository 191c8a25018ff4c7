{#-
  Reconciliation: one row per customer x billing month, for the billing months of issued Meterhouse
  invoices and of Stripe invoices carrying a meterhouse_invoice_id (fct_reconciliation_invoices), from the
  events received to what Stripe collected. Money in integer minor units of `currency`.

  reason_code, the first that applies in this order (each flag is true when any invoice of the month has it):
    blocked              billing.publish_blockers has a row for the customer and month (or one for the whole
                         month, customer_id null; or for the customer in every month, billing_month null)
    before_publish_from  not in Stripe, and the month is before meterhouse.yml stripe.publish_from: not sent by
                         configuration (raw.run_context.publish_from), not by mistake
    unmapped_customer    no Stripe customer (not deleted) carries the customer id in metadata.meterhouse_customer_id
    unpublished          an issued invoice has no Stripe invoice that counts (none, only voided ones, or a draft)
    amount_mismatch      a Stripe invoice's total differs from the Meterhouse invoice total, or a Stripe invoice
                         names a Meterhouse invoice that was never issued
    voided_reissued      a Stripe invoice was voided and a live replacement carries the same Meterhouse invoice
    refunded             refunds on the charges that paid the Stripe invoice(s)
    credited             credit notes made in Stripe on the Stripe invoice(s) (not publications of Meterhouse
                         credit notes, which are late_usage_adjusted)
    late_usage_adjusted  usage arrived after issue: an adjustment line on a later invoice or a credit note line
                         in billing.fct_billing_ledger names the invoice as original_invoice_id
    matched              none of the above: published, same total, nothing after the fact
  reconciliation_status groups them: action_needed (blocked, unmapped_customer, unpublished, amount_mismatch),
  explained (before_publish_from, voided_reissued, refunded, credited, late_usage_adjusted: the figures differ from the invoice for a
  recorded reason), matched.

  Events (usage.fct_event_outcomes) count in the billing month of the invoice that bills them: the month of
  their service window's end (usage is invoiced at the window's end; billing month = UTC month of the issue
  instant), so September's usage of a calendar-monthly plan sits next to the invoice issued on October 1
  that bills it. An event without a window of its own (a duplicate, an unmatched or ambiguous one) takes
  the customer's earliest-ending window that contains its time; one that no window covers (no subscription
  then) counts in the UTC month of its time. Quarantined rows have no trusted customer or time: a row
  counts when its payload is a JSON object naming the customer (customer_id, then external_customer_id,
  then subject) and its timestamp (timestamp, time) is an ISO-8601 text or epoch seconds, dated the same
  way; rows naming no customer are not attributed.
-#}
with

invoices as (select * from {{ ref('fct_reconciliation_invoices') }}),

metrics as (select * from {{ ref('fct_reconciliation_metrics') }}),

outcomes as (select * from {{ ref('fct_event_outcomes') }}),

quarantined as (select * from {{ ref('stg_events__quarantined_events') }}),

blockers as (select * from {{ ref('publish_blockers') }}),

s_customers as (select * from {{ ref('stg_stripe__customers') }} where not is_deleted),

currencies as (select * from {{ ref('currencies') }}),

per_month as (
    select
        customer_id,
        billing_month,
        any_value(currency) as currency,
        count(*) filter (where is_issued) as meterhouse_invoices_count,
        string_agg(meterhouse_invoice_id, ',' order by meterhouse_invoice_id) filter (where is_issued)
            as meterhouse_invoice_ids,
        cast(sum(rated_amount_cents) as hugeint) as rated_amount_cents,
        cast(sum(rated_precise_amount) as {{ precise_type() }}) as rated_precise_amount,
        cast(coalesce(sum(meterhouse_total_cents), 0) as hugeint) as meterhouse_total_cents,
        cast(sum(stripe_invoices_count) as bigint) as stripe_invoices_count,
        string_agg(stripe_invoice_ids, ',' order by meterhouse_invoice_id) as stripe_invoice_ids,
        case
            when count(stripe_status) = 0 then null
            when count(distinct stripe_status) = 1 then any_value(stripe_status)
            else 'mixed'
        end as stripe_status,
        cast(sum(stripe_total_cents) as hugeint) as stripe_total_cents,
        cast(sum(stripe_amount_paid_cents) as hugeint) as stripe_amount_paid_cents,
        cast(sum(meterhouse_credit_notes_count) as bigint) as meterhouse_credit_notes_count,
        cast(sum(meterhouse_credited_cents) as hugeint) as meterhouse_credited_cents,
        cast(sum(stripe_credit_notes_count) as bigint) as stripe_credit_notes_count,
        cast(sum(stripe_credited_cents) as hugeint) as stripe_credited_cents,
        cast(sum(stripe_refunds_count) as bigint) as stripe_refunds_count,
        cast(sum(stripe_refunded_cents) as hugeint) as stripe_refunded_cents,
        cast(sum(late_adjustment_cents) as hugeint) as late_adjustment_cents,
        cast(sum(late_credit_cents) as hugeint) as late_credit_cents,
        bool_or(is_unpublished) as is_unpublished,
        bool_or(is_amount_mismatch) as is_amount_mismatch,
        bool_or(is_voided_reissued) as is_voided_reissued,
        bool_or(is_refunded) as is_refunded,
        bool_or(is_credited) as is_credited,
        bool_or(is_late_usage_adjusted) as is_late_usage_adjusted,
        {#- readable detail per flag: the invoices concerned -#}
        string_agg(
            meterhouse_invoice_id || case when stripe_status = 'void' then ' (Stripe ' || stripe_invoice_id
                || ' voided, no replacement)' when stripe_status = 'draft' then ' (Stripe ' || stripe_invoice_id
                || ' still a draft' || coalesce(', ' || publish_state, '') || ')' else '' end,
            ', ' order by meterhouse_invoice_id) filter (where is_unpublished) as unpublished_detail,
        string_agg(
            meterhouse_invoice_id || ': Meterhouse ' || coalesce(cast(meterhouse_total_cents as varchar), 'not issued')
                || ', Stripe ' || coalesce(stripe_invoice_id, '?') || ' ' || coalesce(cast(stripe_total_cents as varchar), '?')
                || coalesce(' (' || stripe_status || ')', ''),
            ', ' order by meterhouse_invoice_id) filter (where is_amount_mismatch) as mismatch_detail,
        string_agg(
            meterhouse_invoice_id || ': ' || stripe_voided_count || ' voided, now ' || stripe_invoice_id
                || ' (' || stripe_status || ')' || coalesce(' [' || operations_detail || ']', ''),
            ', ' order by meterhouse_invoice_id) filter (where is_voided_reissued) as voided_detail,
        string_agg(
            meterhouse_invoice_id || ' (' || stripe_invoice_id || '): ' || stripe_refunds_count || ' refund(s), '
                || stripe_refunded_cents,
            ', ' order by meterhouse_invoice_id) filter (where is_refunded) as refunded_detail,
        string_agg(
            meterhouse_invoice_id || ' (' || stripe_invoice_id || '): ' || stripe_manual_credit_notes_count
                || ' credit note(s) made in Stripe, ' || stripe_manual_credited_cents,
            ', ' order by meterhouse_invoice_id) filter (where is_credited) as credited_detail,
        string_agg(
            meterhouse_invoice_id || ': ' || late_adjustment_lines_count || ' adjustment line(s) '
                || late_adjustment_cents || ' on later invoices, ' || late_credit_lines_count
                || ' credit note line(s) ' || late_credit_cents,
            ', ' order by meterhouse_invoice_id) filter (where is_late_usage_adjusted) as late_detail
    from invoices
    group by customer_id, billing_month
),

windows as (
    select service_window_id, customer_id, service_start_at, service_end_at
    from {{ ref('int_billing_periods') }}
),

{#- the billing month whose invoice bills an event: its service window's (charges are invoiced at the
    window's end); an event with no window of its own (a duplicate, an unmatched one) takes the customer's
    earliest-ending window that contains its time; one that no window covers, the UTC month of its time -#}
outcomes_dated as (
    select
        o.customer_id,
        o.outcome,
        coalesce(
            any_value(own.service_end_at),
            min(cover.service_end_at),
            o.event_at
        ) as invoiced_at
    from outcomes as o
    left join windows as own on own.service_window_id = o.service_window_id
    left join windows as cover
        on o.service_window_id is null
        and cover.customer_id = o.customer_id
        and o.event_at >= cover.service_start_at
        and o.event_at < cover.service_end_at
    group by o.load_id, o.row_number, o.customer_id, o.outcome, o.event_at
),

events as (
    select
        customer_id,
        strftime(invoiced_at, '%Y-%m') as billing_month,
        count(*) as events_received,
        count(*) filter (where outcome in ('billed', 'late_adjusted')) as events_billed,
        count(*) filter (where outcome = 'duplicate') as events_duplicate,
        count(*) filter (where outcome not in ('billed', 'late_adjusted', 'duplicate')) as events_not_billed
    from outcomes_dated
    group by all
),

quarantined_parsed as (
    select
        case when json_valid(payload) then
            case when json_type(cast(payload as json)) = 'OBJECT' then cast(payload as json) end
        end as doc,
        loaded_at
    from quarantined
),

quarantined_attributed as (
    select
        row_number() over () as q_id,
        nullif(trim(coalesce(doc ->> 'customer_id', doc ->> 'external_customer_id', doc ->> 'subject')), '')
            as customer_id,
        coalesce(
            timezone('UTC', try_cast(coalesce(doc ->> 'timestamp', doc ->> 'time') as timestamptz)),
            timezone('UTC', to_timestamp(try_cast(coalesce(doc ->> 'timestamp', doc ->> 'time') as decimal(20, 6))))
        ) as event_at
    from quarantined_parsed
    where doc is not null
),

quarantined_dated as (
    select
        q.customer_id,
        coalesce(min(cover.service_end_at), q.event_at) as invoiced_at
    from quarantined_attributed as q
    left join windows as cover
        on cover.customer_id = q.customer_id
        and q.event_at >= cover.service_start_at
        and q.event_at < cover.service_end_at
    where q.customer_id is not null
    group by q.q_id, q.customer_id, q.event_at
),

quarantined_per_month as (
    select
        customer_id,
        strftime(invoiced_at, '%Y-%m') as billing_month,
        count(*) as events_quarantined
    from quarantined_dated
    group by all
),

metric_maps as (
    select
        customer_id,
        billing_month,
        json_group_object(billable_metric_code, cast(billed_units as varchar)) as billed_units_by_metric
    from metrics
    group by customer_id, billing_month
),

blocked as (
    select
        p.customer_id,
        p.billing_month,
        string_agg(b.check_name || ': ' || b.reason, '; ' order by b.check_name, b.reason) as blocked_detail
    from per_month as p
    inner join blockers as b
        on (b.customer_id = p.customer_id or b.customer_id is null)
       and (b.billing_month = p.billing_month or b.billing_month is null)
    group by p.customer_id, p.billing_month
),

mapped as (
    select customer_id, string_agg(stripe_customer_id, ',' order by stripe_customer_id) as stripe_customer_ids
    from s_customers
    where customer_id is not null
    group by customer_id
),

assembled as (
    select
        p.customer_id,
        p.billing_month,
        p.currency,
        cur.minor_unit_exponent as currency_exponent,
        m.stripe_customer_ids,
        coalesce(e.events_received, 0) as events_received,
        coalesce(e.events_billed, 0) as events_billed,
        coalesce(e.events_duplicate, 0) as events_duplicate,
        coalesce(e.events_not_billed, 0) as events_not_billed,
        coalesce(q.events_quarantined, 0) as events_quarantined,
        coalesce(mm.billed_units_by_metric, '{}'::json) as billed_units_by_metric,
        p.meterhouse_invoices_count,
        p.meterhouse_invoice_ids,
        p.rated_amount_cents,
        p.rated_precise_amount,
        p.meterhouse_total_cents,
        p.stripe_invoices_count,
        p.stripe_invoice_ids,
        p.stripe_status,
        p.stripe_total_cents,
        p.stripe_amount_paid_cents,
        p.meterhouse_credit_notes_count,
        p.meterhouse_credited_cents,
        p.stripe_credit_notes_count,
        p.stripe_credited_cents,
        p.stripe_refunds_count,
        p.stripe_refunded_cents,
        p.late_adjustment_cents,
        p.late_credit_cents,
        case
            when bl.customer_id is not null then 'blocked'
            when p.is_unpublished and p.billing_month < {{ publish_from() }} then 'before_publish_from'
            when m.customer_id is null then 'unmapped_customer'
            when p.is_unpublished then 'unpublished'
            when p.is_amount_mismatch then 'amount_mismatch'
            when p.is_voided_reissued then 'voided_reissued'
            when p.is_refunded then 'refunded'
            when p.is_credited then 'credited'
            when p.is_late_usage_adjusted then 'late_usage_adjusted'
            else 'matched'
        end as reason_code,
        bl.blocked_detail,
        p.unpublished_detail,
        p.mismatch_detail,
        p.voided_detail,
        p.refunded_detail,
        p.credited_detail,
        p.late_detail
    from per_month as p
    left join currencies as cur on cur.currency = p.currency
    left join mapped as m on m.customer_id = p.customer_id
    left join events as e on e.customer_id = p.customer_id and e.billing_month = p.billing_month
    left join quarantined_per_month as q on q.customer_id = p.customer_id and q.billing_month = p.billing_month
    left join metric_maps as mm on mm.customer_id = p.customer_id and mm.billing_month = p.billing_month
    left join blocked as bl on bl.customer_id = p.customer_id and bl.billing_month = p.billing_month
)

select
    customer_id,
    billing_month,
    currency,
    currency_exponent,
    stripe_customer_ids,
    events_received,
    events_billed,
    events_duplicate,
    events_not_billed,
    events_quarantined,
    billed_units_by_metric,
    meterhouse_invoices_count,
    meterhouse_invoice_ids,
    rated_amount_cents,
    rated_precise_amount,
    meterhouse_total_cents,
    stripe_invoices_count,
    stripe_invoice_ids,
    stripe_status,
    stripe_total_cents,
    stripe_amount_paid_cents,
    meterhouse_credit_notes_count,
    meterhouse_credited_cents,
    stripe_credit_notes_count,
    stripe_credited_cents,
    stripe_refunds_count,
    stripe_refunded_cents,
    late_adjustment_cents,
    late_credit_cents,
    case
        when reason_code = 'matched' then 'matched'
        when reason_code in ('voided_reissued', 'refunded', 'credited', 'late_usage_adjusted', 'before_publish_from')
            then 'explained'
        else 'action_needed'
    end as reconciliation_status,
    reason_code,
    case reason_code
        when 'blocked' then 'Publishing is blocked for this customer and month: ' || blocked_detail
        when 'unmapped_customer' then 'No Stripe customer has metadata.meterhouse_customer_id = ' || customer_id
            || ': create or tag the Stripe customer, then publish the month'
        when 'unpublished' then 'Issued but not in Stripe: ' || unpublished_detail || '; publish the month'
        when 'before_publish_from' then 'Issued before stripe.publish_from (' || {{ publish_from() }}
            || '): not sent to Stripe by configuration (' || unpublished_detail
            || '); move stripe.publish_from back to this month to publish it'
        when 'amount_mismatch' then 'Stripe total differs from Meterhouse: ' || mismatch_detail
        when 'voided_reissued' then 'Voided in Stripe and reissued: ' || voided_detail
        when 'refunded' then 'Refunded in Stripe: ' || refunded_detail
        when 'credited' then 'Credited in Stripe: ' || credited_detail
        when 'late_usage_adjusted' then 'Usage arrived after issue: ' || late_detail
        else 'Published, Stripe total equals the Meterhouse total (' || coalesce(stripe_status, '?')
            || '), nothing changed after issue'
    end as reason
from assembled
