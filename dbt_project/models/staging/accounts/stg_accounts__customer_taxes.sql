{#- Each taxed customer's tax rate (DIR/taxes.yml): the rate in percent, exact. -#}
select
    ct.external_customer_id as customer_id,
    ct.tax_code,
    tr.name as tax_name,
    cast(tr.rate as {{ quantity_type() }}) as tax_rate_percent
from {{ source('raw', 'customer_taxes') }} as ct
inner join {{ source('raw', 'tax_rates') }} as tr on tr.code = ct.tax_code
