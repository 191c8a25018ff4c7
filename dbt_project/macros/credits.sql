{#-
  Prepaid credits (DIR/credits.yml, stg_accounts__credit_grants): balances and the drawdown walk.
  Used by the ledger when it issues invoices (fct_billing_ledger, against its own past rows) and by the
  drafts (fct_invoice_lines, against the ledger), so an invoice draws in its draft what it will draw when
  issued, as long as nothing changes in between. Amounts are integer minor units (bigint): a draw is a
  whole number of minor units by construction, so there is nothing to round.
-#}

{#- The ledger rows that move a grant's balance: draws on invoices (negative), credits returned by a
    credit note (stored negative on the credit note, so they count positive here), and the grant's own
    rows (expiry and rollover_out negative, rollover_in positive). -#}
{% macro credit_balance_change(ledger_row) -%}
    case when {{ ledger_row }}.document_type = 'credit_note' then -{{ ledger_row }}.amount_cents
         else {{ ledger_row }}.amount_cents end
{%- endmacro %}

{#- Each grant's balance now: its amount plus every change the ledger recorded. Expands to the CTE
    `credit_balances` (grant_id, balance_cents). -#}
{% macro credit_balances(grants, ledger) %}
    credit_balances as (
        select
            g.grant_id,
            any_value(g.amount_cents) + coalesce(sum({{ credit_balance_change('l') }}), 0) as balance_cents
        from {{ grants }} as g
        left join {{ ledger }} as l
            on l.fee_type = 'credit' and l.customer_id = g.customer_id and l.group_key = 'grant=' || g.grant_id
        group by g.grant_id
    )
{% endmacro %}

{#- The drawdown order of a customer's grants: priority, then the soonest expiry (none last), then the
    oldest (effective date), then the id; reverse=true gives the reverse (last drawn first). -#}
{% macro credit_drawdown_order(g, reverse=false) -%}
    {%- if reverse -%}
    {{ g }}.priority desc, {{ g }}.expiry_date desc nulls first, {{ g }}.effective_date desc, {{ g }}.grant_id desc
    {%- else -%}
    {{ g }}.priority, {{ g }}.expiry_date nulls last, {{ g }}.effective_date, {{ g }}.grant_id
    {%- endif -%}
{%- endmacro %}

{#-
  The drawdown walk (SEMANTICS.md "Money": credits come last, after tax; grants by priority, then the
  soonest expiry, then the oldest). Per customer, the events are walked in time order:
    invoice  (invoice_id, customer_id, currency, issue_date, issue_at, amount_cents = its total before
             credits): draws from the grants that pay it (same currency, effective_date <= issue_date <
             expiry_date) in drawdown order, each at most its balance, until the invoice is at zero
             (an invoice at or below zero draws nothing);
    expiry   (grant_id): the grant's balance leaves it: rollover_percent of it (rounded down to the minor
             unit) moves to its rollover_grant_id (the next term of a commitment), the rest expires.
  Events are ordered by date (issue date, expiry date), an expiry before the invoices of its own date
  (it pays invoices issued before expiry_date), then by instant and id. Drawdown order, the grant rank:
  priority, expiry_date (none = last), effective_date, grant_id.
  The walk is a recursive CTE with one row per customer and event: the balances travel as a list indexed
  by grant rank. Expands to CTEs ending in `credit_moves`: one row per balance move,
    event_kind  draw | rollover_out | expiry | rollover_in
    grant_id    the grant whose balance moves; related_grant_id the other side of a rollover
    event_id    the invoice (draw) or the expiring grant; event_date, event_at, step (the walk's order)
    amount_cents  the amount moved, > 0 (the sign is the caller's: a draw lowers the balance)
-#}
{% macro credit_drawdown(grants, balances, invoices, expiries) %}
    credit_ranked as (
        select
            g.grant_id,
            g.customer_id,
            g.currency,
            g.effective_date,
            g.expiry_date,
            g.expires_at,
            g.rollover_grant_id,
            g.rollover_percent,
            coalesce(b.balance_cents, g.amount_cents) as start_cents,
            row_number() over (partition by g.customer_id order by {{ credit_drawdown_order('g') }}) as grant_rank
        from {{ grants }} as g
        left join {{ balances }} as b using (grant_id)
    ),

    credit_ranked_targets as (
        select r.*, t.grant_rank as rollover_rank
        from credit_ranked as r
        left join credit_ranked as t on t.customer_id = r.customer_id and t.grant_id = r.rollover_grant_id
    ),

    credit_starts as (
        select
            customer_id,
            list(start_cents order by grant_rank) as balances,
            list(grant_id order by grant_rank) as grant_ids
        from credit_ranked
        group by customer_id
    ),

    credit_eligibility as (
        select
            i.invoice_id,
            list(
                coalesce(
                    g.currency = i.currency
                    and g.effective_date <= i.issue_date
                    and (g.expiry_date is null or i.issue_date < g.expiry_date),
                    false)
                order by g.grant_rank
            ) as eligible
        from {{ invoices }} as i
        inner join credit_ranked as g using (customer_id)
        group by i.invoice_id
    ),

    credit_events as (
        select
            i.customer_id,
            1 as kind_order,
            'invoice' as event_kind,
            i.invoice_id as event_id,
            i.issue_date as event_date,
            i.issue_at as event_at,
            cast(i.amount_cents as bigint) as invoice_cents,
            e.eligible,
            cast(null as bigint) as grant_rank,
            cast(null as bigint) as rollover_rank,
            cast(null as {{ quantity_type() }}) as rollover_percent
        from {{ invoices }} as i
        inner join credit_eligibility as e using (invoice_id)

        union all

        select
            g.customer_id,
            0,
            'expiry',
            g.grant_id,
            g.expiry_date,
            g.expires_at,
            null,
            null,
            g.grant_rank,
            g.rollover_rank,
            g.rollover_percent
        from credit_ranked_targets as g
        where g.expiry_date is not null
          and g.grant_id in (select grant_id from {{ expiries }})
    ),

    credit_steps as (
        select
            *,
            row_number() over (
                partition by customer_id order by event_date, kind_order, event_at, event_id
            ) as step
        from credit_events
    ),

    {#- moves[i]: what leaves grant i at this step (a draw, or an expiring balance); a rollover target
        receives it as a negative move -#}
    credit_walk as (
        with recursive walk (customer_id, step, balances, moves) as (
            select customer_id, cast(0 as bigint), balances, cast([] as bigint[])
            from credit_starts

            union all

            select customer_id, step, list_transform(balances, lambda b, i: b - moves[i]), moves
            from (
                select
                    w.customer_id,
                    e.step,
                    w.balances,
                    case
                        when e.event_kind = 'invoice' then list_transform(
                            list_transform(w.balances, lambda b, i: case when e.eligible[i] then greatest(b, 0) else 0 end),
                            lambda avail, i: greatest(0, least(avail, e.invoice_cents - coalesce(list_sum(
                                list_slice(
                                    list_transform(w.balances, lambda b, j: case when e.eligible[j] then greatest(b, 0) else 0 end),
                                    1, i - 1)), 0))))
                        else list_transform(w.balances, lambda b, i: case
                            when i = e.grant_rank then greatest(b, 0)
                            when i = e.rollover_rank
                                then -cast(floor(greatest(w.balances[e.grant_rank], 0) * e.rollover_percent * cast(0.01 as decimal(3, 2))) as bigint)
                            else 0
                        end)
                    end as moves
                from walk as w
                inner join credit_steps as e on e.customer_id = w.customer_id and e.step = w.step + 1
            )
        )

        select w.customer_id, w.step, w.moves, s.grant_ids
        from walk as w
        inner join credit_starts as s using (customer_id)
        where w.step > 0
    ),

    credit_walk_events as (
        select
            w.*,
            e.event_kind,
            e.event_id,
            e.event_date,
            e.event_at,
            e.grant_rank,
            e.rollover_rank,
            coalesce(-w.moves[e.rollover_rank], 0) as rolled_cents
        from credit_walk as w
        inner join credit_steps as e using (customer_id, step)
    ),

    credit_moves as (
        select
            customer_id, step, 'draw' as event_kind, event_id, event_date, event_at,
            grant_ids[i] as grant_id, cast(null as varchar) as related_grant_id, moves[i] as amount_cents
        from (select *, unnest(range(1, len(moves) + 1)) as i from credit_walk_events where event_kind = 'invoice')
        where moves[i] > 0

        union all

        select
            customer_id, step, 'rollover_out', event_id, event_date, event_at,
            grant_ids[grant_rank], grant_ids[rollover_rank], rolled_cents
        from credit_walk_events
        where event_kind = 'expiry' and rolled_cents > 0

        union all

        select
            customer_id, step, 'expiry', event_id, event_date, event_at,
            grant_ids[grant_rank], null, moves[grant_rank] - rolled_cents
        from credit_walk_events
        where event_kind = 'expiry' and moves[grant_rank] - rolled_cents > 0

        union all

        select
            customer_id, step, 'rollover_in', event_id, event_date, event_at,
            grant_ids[rollover_rank], grant_ids[grant_rank], rolled_cents
        from credit_walk_events
        where event_kind = 'expiry' and rolled_cents > 0
    )
{% endmacro %}

{#-
  The columns of a prepaid-credit line (fee_type credit, negative, named by its grant), in the order of an
  invoice line after its ids and kind: one shape for the issued line (fct_billing_ledger) and the draft line
  (fct_invoice_lines). Reads `h` (the invoice's first fee line, for its descriptive columns and dates),
  `m` (the credit move: grant_id, amount_cents) and `cur` (the currency's minor_unit_exponent).
-#}
{% macro credit_line_columns(invoice_id) -%}
    {%- for col in fee_descriptive_columns() %}
    {%- if col == 'fee_id' %} {{ invoice_id }} || '|credit|grant=' || m.grant_id as fee_id,
    {%- elif col == 'fee_type' %} 'credit' as fee_type,
    {%- elif col == 'group_key' %} 'grant=' || m.grant_id as group_key,
    {%- elif col in ('charge_id', 'filter_id', 'billable_metric_code', 'charge_model') %} cast(null as varchar) as {{ col }},
    {%- elif col == 'unit_amount' %} cast(null as {{ quantity_type() }}) as unit_amount,
    {%- elif col == 'events_count' %} cast(null as bigint) as events_count,
    {%- else %} h.{{ col }},
    {%- endif %}
    {%- endfor %}
    cast(null as {{ quantity_type() }}) as units,
    cast({{ minor_to_major('-m.amount_cents', 'cur.minor_unit_exponent') }} as {{ precise_type() }}) as precise_amount,
    -m.amount_cents as amount_cents,
    h.issue_date,
    h.billing_month,
    h.issue_at
{%- endmacro %}
