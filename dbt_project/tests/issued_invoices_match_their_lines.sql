{#- An issued invoice's total is the sum of its issued lines, each rounded once. -#}
{#- A Dagster asset check on fct_issued_invoices (dagster-dbt needs the asset of a test that reads several models) -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_issued_invoices'}}}) }}
with lines as (
    select invoice_id, sum(amount_cents) as lines_total, count(*) as n
    from {{ ref('fct_issued_invoice_lines') }}
    group by invoice_id
)
select i.invoice_id, i.total_amount_cents, l.lines_total
from {{ ref('fct_issued_invoices') }} as i
full join lines as l using (invoice_id)
where i.total_amount_cents is distinct from l.lines_total or i.lines_count is distinct from l.n
