{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}
{#-
  The append-only record of everything Meterhouse has issued (SEMANTICS.md "Invoices: issue, finality,
  adjustments"). One row per line of an issued document; rows are never updated or deleted.
    document_type invoice,     line_kind fee        : the lines of an invoice issued once all of them are due
                                                      (issue instant + grace <= billing clock)
    document_type invoice,     line_kind adjustment : an increase found after issue (late events,
                                                      corrections), on the customer's next invoice, naming the
                                                      original invoice and service period; a standalone
                                                      adjustment invoice when the customer has no next one
    document_type credit_note, line_kind credit     : a decrease, credited against the original invoice
  Prepaid credits (DIR/credits.yml; macros/credits.sql), decided once, when a document is issued:
    document_type invoice,     fee_type credit       : a negative line per grant an invoice draws from, after
                                                      tax (group_key 'grant=<id>'): the drawdown of the
                                                      invoices this run issues, from the balances the earlier
                                                      rows left, by priority, soonest expiry, oldest
    document_type credit_note, fee_type credit       : a negative line per grant: what a credit note gives back
                                                      to the grants the original invoice drew from, for the
                                                      part of the decrease beyond what the invoice was paid in
                                                      money (its total less earlier credit notes), last drawn
                                                      first; the credit note's total is the money part
    document_type credit_grant, line_kind expiry | rollover_out | rollover_in : a grant's balance leaving it
                                                      at expiry (amount_cents is the signed change of the
                                                      grant's balance), written by the run in which the expiry
                                                      has passed and every invoice it could pay is issued
  Adjustments and credit notes never re-run the drawdown of an issued invoice: an adjustment line is part of
  the next invoice's total, which draws at its own issue.
  Every row records the load-time cut-off it used (the newest load at that moment) and when it was issued:
  rebuilding from raw events with as_of_loaded_at = that cut-off reproduces it.
  close_through_month (YYYY-MM, the Dagster partition) closes a billing month and every month before it: a
  run issues each due invoice whose billing month is at most that month (an invoice issued late in a month,
  say on an anniversary, is closed by the next run, never skipped). Credit notes and standalone adjustments
  are issued by any run.
-#}
{%- set cols = fee_descriptive_columns() %}
with

fees as (select * from {{ ref('int_fees') }} where scenario = 'live' and is_invoiceable),

prior as (
    {% if is_incremental() %}
    select * from {{ this }}
    {% else %}
    {#- the first build: an empty ledger with the fees' column types -#}
    select
        cast(null as varchar) as ledger_line_id,
        cast(null as varchar) as document_type,
        cast(null as varchar) as document_id,
        cast(null as varchar) as line_kind,
        cast(null as varchar) as original_invoice_id,
        {% for c in cols %}f.{{ c }}, {% endfor %}
        f.units,
        f.precise_amount,
        f.amount_cents
    from fees as f
    where false
    {% endif %}
),

cutoff as (
    select
        coalesce(max(loaded_at), cast('1970-01-01' as timestamp)) as cutoff_loaded_at,
        {{ clock() }} as issued_at
    from {{ ref('stg_events__event_loads') }}
),

{{ billing_deltas('fees', 'prior') }},

invoices as (
    select
        invoice_id,
        any_value(customer_id) as customer_id,
        bool_and(is_due) as is_due,
        max(billing_month) as billing_month,
        max(issue_at) as issue_at,
        any_value(issue_date) as issue_date
    from fees
    group by invoice_id
),

unissued as (
    select * from invoices where invoice_id not in (select invoice_id from issued_invoice_ids)
),

to_issue as (
    select * from unissued
    where is_due
      and billing_month <= coalesce({{ close_through_month() }}, billing_month)
),

next_invoice as (
    select customer_id, arg_min(invoice_id, issue_at) as invoice_id
    from to_issue
    group by customer_id
),

fee_lines as (
    select
        'invoice' as document_type,
        f.invoice_id as document_id,
        'fee' as line_kind,
        f.invoice_id as original_invoice_id,
        {% for c in cols %}f.{{ c }}, {% endfor %}
        f.units,
        f.precise_amount,
        f.amount_cents,
        t.issue_date,
        t.billing_month,
        t.issue_at
    from fees as f
    inner join to_issue as t using (invoice_id)
),

adjustment_lines as (
    select
        'invoice',
        coalesce(n.invoice_id,
                 'inv_' || d.customer_id || '_adj_' || strftime(c.cutoff_loaded_at, '%Y%m%dT%H%M%S')),
        'adjustment',
        d.original_invoice_id,
        {% for col in cols %}d.{{ col }}, {% endfor %}
        d.delta_units,
        d.delta_precise_amount,
        d.delta_cents,
        coalesce(t.issue_date, cast({{ to_local('c.issued_at', 'd.timezone') }} as date)),
        coalesce(t.billing_month, strftime(c.issued_at, '%Y-%m')),
        coalesce(t.issue_at, c.issued_at)
    from deltas as d
    cross join cutoff as c
    left join next_invoice as n using (customer_id)
    left join to_issue as t on t.invoice_id = n.invoice_id
    where d.delta_cents > 0
      and (n.invoice_id is not null or d.customer_id not in (select customer_id from unissued))
),

credit_lines as (
    select
        'credit_note' as document_type,
        'cn_' || d.original_invoice_id || '_' || strftime(c.cutoff_loaded_at, '%Y%m%dT%H%M%S') as document_id,
        'credit' as line_kind,
        d.original_invoice_id,
        {% for col in cols %}d.{{ col }}, {% endfor %}
        -d.delta_units as units,
        -d.delta_precise_amount as precise_amount,
        -d.delta_cents as amount_cents,
        cast({{ to_local('c.issued_at', 'd.timezone') }} as date) as issue_date,
        strftime(c.issued_at, '%Y-%m') as billing_month,
        c.issued_at as issue_at
    from deltas as d
    cross join cutoff as c
    where d.delta_cents < 0
),

{#- ---- prepaid credits (macros/credits.sql) ---- -#}
credit_grants as (select * from {{ ref('stg_accounts__credit_grants') }}),

{{ credit_balances('credit_grants', 'prior') }},

{#- A credit note of this run against an invoice that drew credits: the invoice's money (its total, what
    it was paid in money, less earlier credit notes) is credited first; the rest of the decrease goes back
    to the grants the invoice drew from, last drawn first, each at most what it gave (less earlier
    returns). -#}
credit_note_totals as (
    select document_id, original_invoice_id, sum(amount_cents) as credited_cents
    from credit_lines
    group by document_id, original_invoice_id
),

credit_note_money_left as (
    select
        n.document_id,
        n.original_invoice_id,
        greatest(0, n.credited_cents - (
            coalesce((select sum(p.amount_cents) from prior as p
                      where p.document_type = 'invoice' and p.document_id = n.original_invoice_id), 0)
            - coalesce((select sum(p.amount_cents) from prior as p
                        where p.document_type = 'credit_note' and p.original_invoice_id = n.original_invoice_id), 0)
        )) as beyond_money_cents
    from credit_note_totals as n
),

credit_returnable as (
    select
        n.document_id,
        n.beyond_money_cents,
        p.fee_id,
        g.grant_id,
        any_value(g.priority) as priority,
        any_value(g.expiry_date) as expiry_date,
        any_value(g.effective_date) as effective_date,
        sum(case when p.document_type = 'invoice' then -p.amount_cents else p.amount_cents end) as returnable_cents
    from credit_note_money_left as n
    inner join prior as p on p.original_invoice_id = n.original_invoice_id and p.fee_type = 'credit'
    inner join credit_grants as g on p.group_key = 'grant=' || g.grant_id
    where n.beyond_money_cents > 0
    group by n.document_id, n.beyond_money_cents, p.fee_id, g.grant_id
),

credit_returns as (
    select
        r.*,
        least(r.returnable_cents, greatest(0, r.beyond_money_cents - coalesce(sum(r.returnable_cents) over (
            partition by r.document_id
            order by {{ credit_drawdown_order('r', reverse=true) }}
            rows between unbounded preceding and 1 preceding), 0))) as returned_cents
    from credit_returnable as r
),

credit_return_lines as (
    select
        'credit_note' as document_type,
        r.document_id,
        'credit' as line_kind,
        d.original_invoice_id,
        {% for col in cols %}d.{{ col }}, {% endfor %}
        cast(null as {{ quantity_type() }}) as units,
        cast({{ minor_to_major('-r.returned_cents', 'cur.minor_unit_exponent') }} as {{ precise_type() }}) as precise_amount,
        -r.returned_cents as amount_cents,
        cast({{ to_local('c.issued_at', 'd.timezone') }} as date) as issue_date,
        strftime(c.issued_at, '%Y-%m') as billing_month,
        c.issued_at as issue_at
    from credit_returns as r
    inner join prior as d on d.document_type = 'invoice' and d.fee_id = r.fee_id
    inner join {{ ref('currencies') }} as cur on cur.currency = d.currency
    cross join cutoff as c
    where r.returned_cents > 0
),

credit_start_balances as (
    select b.grant_id, b.balance_cents + coalesce(sum(r.returned_cents), 0) as balance_cents
    from credit_balances as b
    left join credit_returns as r using (grant_id)
    group by b.grant_id, b.balance_cents
),

{#- the invoices this run issues (fee invoices and standalone adjustment invoices), with their lines -#}
issued_now as (
    select * from fee_lines
    union all
    select * from adjustment_lines
),

issued_now_totals as (
    select
        document_id as invoice_id,
        any_value(customer_id) as customer_id,
        any_value(currency) as currency,
        max(issue_date) as issue_date,
        max(issue_at) as issue_at,
        sum(amount_cents) as amount_cents
    from issued_now
    group by document_id
),

{#- expiries final in this run: passed, and no invoice the grant could pay is left to issue -#}
credit_expiries as (
    select g.grant_id
    from credit_grants as g
    cross join cutoff as c
    where g.expires_at <= c.issued_at
      and not exists (
          select 1 from unissued as u
          where u.customer_id = g.customer_id
            and u.issue_date < g.expiry_date
            and u.invoice_id not in (select invoice_id from to_issue)
      )
),

{{ credit_drawdown('credit_grants', 'credit_start_balances', 'issued_now_totals', 'credit_expiries') }},

{#- a credit line rides on its invoice's first line for the columns that describe where it belongs -#}
issued_now_heads as (
    select *
    from issued_now
    qualify row_number() over (partition by document_id order by service_start_at, fee_id) = 1
),

credit_draw_lines as (
    select
        'invoice' as document_type,
        h.document_id,
        'fee' as line_kind,
        h.document_id as original_invoice_id,
        {{ credit_line_columns('h.document_id') }}
    from credit_moves as m
    inner join issued_now_heads as h on h.document_id = m.event_id
    inner join {{ ref('currencies') }} as cur on cur.currency = h.currency
    where m.event_kind = 'draw'
),

credit_grant_lines as (
    select
        'credit_grant' as document_type,
        g.grant_id as document_id,
        m.event_kind as line_kind,
        cast(null as varchar) as original_invoice_id,
        {%- for col in cols %}
        {%- if col == 'fee_id' %} g.grant_id || '|' || m.event_kind || '#' || (1 + (
            select count(*) from prior as p
            where p.document_type = 'credit_grant' and p.document_id = g.grant_id and p.line_kind = m.event_kind
        )) as fee_id,
        {%- elif col == 'fee_type' %} 'credit' as fee_type,
        {%- elif col == 'group_key' %} 'grant=' || g.grant_id as group_key,
        {%- elif col in ('customer_id', 'currency', 'timezone') %} g.{{ col }},
        {%- elif col == 'service_start_at' %} g.effective_at as service_start_at,
        {%- elif col == 'service_end_at' %} g.expires_at as service_end_at,
        {%- elif col in ('unit_amount',) %} cast(null as {{ quantity_type() }}) as {{ col }},
        {%- elif col in ('events_count',) %} cast(null as bigint) as {{ col }},
        {%- elif col in ('period_start_at', 'period_end_at') %} cast(null as timestamp) as {{ col }},
        {%- else %} cast(null as varchar) as {{ col }},
        {%- endif %}
        {%- endfor %}
        cast(null as {{ quantity_type() }}) as units,
        cast({{ minor_to_major("case when m.event_kind = 'rollover_in' then m.amount_cents else -m.amount_cents end", 'cur.minor_unit_exponent') }}
             as {{ precise_type() }}) as precise_amount,
        case when m.event_kind = 'rollover_in' then m.amount_cents else -m.amount_cents end as amount_cents,
        m.event_date as issue_date,
        strftime(m.event_at, '%Y-%m') as billing_month,
        m.event_at as issue_at
    from credit_moves as m
    inner join credit_grants as g on g.grant_id = m.grant_id
    inner join {{ ref('currencies') }} as cur on cur.currency = g.currency
    where m.event_kind <> 'draw'
),

new_lines as (
    select * from fee_lines
    union all
    select * from adjustment_lines
    union all
    select * from credit_lines
    union all
    select * from credit_return_lines
    union all
    select * from credit_draw_lines
    union all
    select * from credit_grant_lines
)

select
    document_id || '|' || fee_id as ledger_line_id,
    new_lines.*,
    cutoff.cutoff_loaded_at,
    cutoff.issued_at
from new_lines
cross join cutoff
