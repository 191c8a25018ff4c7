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
  The data quality issue adds its checks here (Great Expectations suites, freshness).
-#}
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
)

select * from total_mismatch
union all
select * from negative_total
union all
select * from unrounded
union all
select * from unbalanced
