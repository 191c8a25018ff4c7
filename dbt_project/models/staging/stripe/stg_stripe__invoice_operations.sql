{#- Operator voids and reissues of published invoices (meterhouse invoice void|reissue), the ones that succeeded. -#}
select
    operation_id,
    operation_seq,
    operation,
    invoice_id as meterhouse_invoice_id,
    stripe_invoice_id,
    replaced_stripe_invoice_id,
    reason,
    operator,
    operated_at
from {{ source('stripe', 'stripe_invoice_operations') }}
where status = 'ok'
