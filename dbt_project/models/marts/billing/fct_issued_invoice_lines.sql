{#- The lines of every issued invoice, exactly as issued: fees, and adjustment lines that bill an increase
    found after an earlier invoice was issued (original_invoice_id and the service period name it). -#}
select
    ledger_line_id as invoice_line_id,
    document_id as invoice_id,
    * exclude (ledger_line_id, document_id, document_type)
from {{ ref('fct_billing_ledger') }}
where document_type = 'invoice'
