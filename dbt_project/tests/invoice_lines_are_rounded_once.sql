{#- Each fee line's minor units are its precise amount rounded half away from zero at the currency's exponent. -#}
{#- A Dagster asset check on fct_invoice_lines (dagster-dbt needs the asset of a test that reads several models) -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_invoice_lines'}}}) }}
select l.invoice_line_id, l.precise_amount, l.amount_cents, c.minor_unit_exponent
from {{ ref('fct_invoice_lines') }} as l
inner join {{ ref('currencies') }} as c using (currency)
where l.line_kind = 'fee'
  and abs(cast(l.amount_cents as decimal(38, 0))
          - l.precise_amount * case c.minor_unit_exponent when 0 then 1 when 2 then 100 else 1000 end)
      > 0.5
