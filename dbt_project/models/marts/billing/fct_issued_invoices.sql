{#- One row per issued invoice (customer x issue date, or a standalone adjustment invoice); totals are sums
    of its lines, each rounded once. Never changes once issued. -#}
select * exclude (invoice_status)
from {{ ref('fct_invoices') }}
where invoice_status = 'issued'
