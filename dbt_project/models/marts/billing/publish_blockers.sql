{#-
  What stops an issued invoice from being published to Stripe, per customer and billing month: one row
  per failing check (check_name) with a reason a person can act on. Publishing skips exactly the
  (customer, month) pairs listed here and says which check stopped each; a row with customer_id null
  blocks the whole month (a failure that cannot be pinned to customers).
    invoice_total_mismatch    an issued invoice's total is not the sum of its lines
    negative_invoice_total    an issued invoice totals below zero (a credit belongs on a credit note)
    unrounded_line            an issued line's amount_cents is not its precise amount rounded once
    unbalanced_load           a load whose rows do not add up (rows read = quarantined + landed =
                              outcomes): every month issued with that load's cut-off is blocked
  and every failing data quality check (Great Expectations suites, ingestion/quality) from
  raw.check_failures, which the checks replace at each run (a fixed defect clears):
    a row with billing_month         that month (customer_id null: every customer of the month)
    a row with since_loaded_at       a defect in an event load: the billing months of the issued documents
                                     (invoices, credit notes) whose load cut-off includes it, for the customer
                                     (or every customer)
    neither                          every month (billing_month null), as the publisher reads it
  A view, so the publisher always reads the checks' latest rows: the close job runs the checks on the marts
  after this model is built and before it publishes.
-#}
{{ config(materialized='view') }}
with

lines as (select * from {{ ref('fct_issued_invoice_lines') }}),

invoices as (select * from {{ ref('fct_issued_invoices') }}),

line_sums as (
    select invoice_id, sum(amount_cents) as lines_cents
    from lines
    group by invoice_id
),

total_mismatch as (
    select
        i.customer_id,
        i.billing_month,
        'invoice_total_mismatch' as check_name,
        'invoice ' || i.invoice_id || ' totals ' || i.total_amount_cents || ' but its lines sum to '
            || coalesce(s.lines_cents, 0) || ' (minor units): rebuild the month and compare the ledger' as reason
    from invoices as i
    left join line_sums as s using (invoice_id)
    where i.total_amount_cents <> coalesce(s.lines_cents, 0)
),

negative_total as (
    select
        customer_id,
        billing_month,
        'negative_invoice_total',
        'invoice ' || invoice_id || ' totals ' || total_amount_cents
            || ' (minor units): a negative invoice cannot be finalized; check its adjustment lines'
    from invoices
    where total_amount_cents < 0
),

unrounded as (
    select
        l.customer_id,
        l.billing_month,
        'unrounded_line',
        'line ' || l.invoice_line_id || ' bills ' || l.amount_cents || ' for a precise amount of '
            || l.precise_amount || ' ' || l.currency || ': it is not rounded once to the minor unit'
    from lines as l
    inner join {{ ref('currencies') }} as cur using (currency)
    where l.amount_cents <> {{ to_minor_units('l.precise_amount', 'cur.minor_unit_exponent') }}
),

unbalanced as (
    select distinct
        cast(null as varchar) as customer_id,
        i.billing_month,
        'unbalanced_load',
        'load ' || a.load_id || ' (' || a.file_name || ') does not balance: ' || a.rows_read
            || ' rows read, ' || a.quarantined_rows || ' quarantined, ' || a.landed_rows
            || ' landed; see usage.rpt_load_accounting'
    from {{ ref('rpt_load_accounting') }} as a
    inner join invoices as i on a.loaded_at <= i.cutoff_loaded_at
    where not a.is_balanced
),

check_failures as (select * from {{ source('raw', 'check_failures') }}),

documents as (
    select customer_id, billing_month, cutoff_loaded_at from invoices
    union all
    select customer_id, billing_month, cutoff_loaded_at from {{ ref('fct_credit_notes') }}
),

quality as (
    select customer_id, billing_month, check_name, reason
    from check_failures
    where since_loaded_at is null or billing_month is not null
    union all
    select distinct f.customer_id, d.billing_month, f.check_name, f.reason
    from check_failures as f
    inner join documents as d
        on d.cutoff_loaded_at >= f.since_loaded_at
       and (f.customer_id is null or d.customer_id = f.customer_id)
    where f.since_loaded_at is not null and f.billing_month is null
)

select * from total_mismatch
union all
select * from negative_total
union all
select * from unrounded
union all
select * from unbalanced
union all
select * from quality
