{#-
  Every prepaid credit line (issued or draft, fct_invoice_lines) draws from a grant of the invoice's own
  customer and currency (never converted), effective on the invoice's issue date and not expired
  (effective_date <= issue_date < expiry_date), negative, one per grant and invoice; and an invoice that
  draws credits is reduced at most to zero. One row per failure.
-#}
with

lines as (
    select
        l.*,
        substring(l.group_key, length('grant=') + 1) as grant_id
    from {{ ref('fct_invoice_lines') }} as l
    where l.fee_type = 'credit'
),

grants as (select * from {{ ref('stg_accounts__credit_grants') }})

select l.invoice_line_id, 'unknown grant, or another customer''s or currency' as failure
from lines as l
left join grants as g using (grant_id)
where g.grant_id is null or g.customer_id <> l.customer_id or g.currency <> l.currency

union all

select l.invoice_line_id, 'the grant does not pay invoices issued on ' || l.issue_date
from lines as l
inner join grants as g using (grant_id)
where l.issue_date < g.effective_date or l.issue_date >= g.expiry_date

union all

select invoice_line_id, 'a credit line must be negative'
from lines
where amount_cents >= 0

union all

select any_value(invoice_line_id), 'two credit lines for one grant on ' || invoice_id
from lines
group by invoice_id, grant_id
having count(*) > 1

union all

select invoice_id, 'drawing credits left the invoice below zero: ' || total_amount_cents
from {{ ref('fct_invoices') }}
where credit_amount_cents < 0 and total_amount_cents < 0
