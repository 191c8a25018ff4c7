{#- Credit notes: decreases found after an invoice was issued (late corrections), credited against it.
    One row per credit note; its lines are in fct_billing_ledger (document_type = 'credit_note'). -#}
select
    document_id as credit_note_id,
    any_value(original_invoice_id) as invoice_id,
    any_value(customer_id) as customer_id,
    any_value(currency) as currency,
    any_value(issue_date) as issue_date,
    any_value(billing_month) as billing_month,
    count(*) as lines_count,
    sum(amount_cents) as total_amount_cents,
    any_value(cutoff_loaded_at) as cutoff_loaded_at,
    any_value(issued_at) as issued_at
from {{ ref('fct_billing_ledger') }}
where document_type = 'credit_note'
group by document_id
