{#-
  The coupons applied to each customer (DIR/coupons.yml): their terms, typed (amounts exact), and
  applied_order, the order a customer's coupons apply to an invoice in (1 = the oldest applied first).
-#}
select
    a.external_customer_id as customer_id,
    c.code as coupon_code,
    c.coupon_type,
    c.amount_cents,
    c.amount_currency,
    cast(c.percentage_rate as {{ quantity_type() }}) as percentage_rate,
    c.frequency,
    c.frequency_duration,
    a.applied_at,
    a.applied_order
from {{ source('raw', 'applied_coupons') }} as a
inner join {{ source('raw', 'coupons') }} as c on c.code = a.coupon_code
