{#- Money is exact: no column of a Meterhouse model is a float (SEMANTICS.md "Money"). -#}
{#- Runs after the invoices mart is built (its own asset check there), so it sees this run's billing tables. -#}
-- depends_on: {{ ref('fct_invoices') }}
select table_schema, table_name, column_name, data_type
from information_schema.columns
where table_schema in ('staging', 'intermediate', 'usage', 'billing', 'reference')
  and data_type in ('DOUBLE', 'FLOAT', 'REAL')
