{#- Money is exact in the revenue models too: none of their columns is a float (SEMANTICS.md "Money"). -#}
-- depends_on: {{ ref('fct_mrr') }}
-- depends_on: {{ ref('fct_mrr_movements') }}
-- depends_on: {{ ref('fct_revenue_kpis') }}
-- depends_on: {{ ref('fct_cohort_retention') }}
-- depends_on: {{ ref('int_revenue_lines') }}
-- depends_on: {{ ref('int_revenue_cash') }}
select table_schema, table_name, column_name, data_type
from information_schema.columns
where (
        table_schema = '{{ ref("fct_mrr").schema }}'
        or (table_schema = '{{ ref("int_revenue_lines").schema }}'
            and table_name in ('int_revenue_lines_meterhouse', 'int_revenue_lines_stripe', 'int_revenue_lines',
                               'int_revenue_cash', 'int_mrr_changes', 'int_revenue_fx_rates'))
    )
  and data_type in ('DOUBLE', 'FLOAT', 'REAL')
