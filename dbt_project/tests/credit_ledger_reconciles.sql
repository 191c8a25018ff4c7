{#-
  Prepaid credits reconcile (README "Billing rules"). One row per failure, naming the grant and why:
    - per grant, granted + rolled_in + returned - drawn - rolled_out - expired = balance (fct_credit_grants,
      each part summed from its own rows of fct_billing_ledger);
    - that balance is where the credit ledger's running balance ends (fct_credit_ledger, computed the other
      way: row by row, in order);
    - the running balance is never negative, starts with the grant, and each balance_after is the one
      before plus the row's amount;
    - what rolls out of a commitment term is what rolls into the next one, and a rollover never exceeds
      rollover_percent of what the term had left (rounded down);
    - a credit note never credits in money more than its invoice was paid in money (its total).
-#}
with

ledger as (select * from {{ ref('fct_credit_ledger') }}),

grants as (select * from {{ ref('fct_credit_grants') }}),

running as (
    select
        *,
        lag(balance_after_cents) over (partition by grant_id order by entry_seq) as balance_before_cents,
        {#- the n-th rollover out of a term is the n-th rollover into the next one -#}
        row_number() over (partition by grant_id, entry_type order by entry_seq) as kind_seq
    from ledger
),

last_balance as (
    select grant_id, arg_max(balance_after_cents, entry_seq) as balance_after_cents
    from ledger
    group by grant_id
),

rollovers as (
    select
        o.grant_id,
        o.credit_entry_id,
        -o.amount_cents as rolled_out_cents,
        i.amount_cents as rolled_in_cents,
        o.balance_after_cents - o.amount_cents as left_cents,
        g.rollover_percent
    from running as o
    inner join grants as g using (grant_id)
    left join running as i
        on i.entry_type = 'rollover_in' and i.grant_id = o.related_grant_id and i.related_grant_id = o.grant_id
       and i.kind_seq = o.kind_seq
    where o.entry_type = 'rollover_out'
),

credit_note_money as (
    select
        i.invoice_id,
        i.total_amount_cents,
        sum(n.total_amount_cents) as credited_cents
    from {{ ref('fct_issued_invoices') }} as i
    inner join {{ ref('fct_credit_notes') }} as n using (invoice_id)
    where i.credit_amount_cents < 0
    group by all
)

select grant_id as subject, 'granted + rolled_in + returned - drawn - rolled_out - expired is not the balance' as failure
from grants
where granted_cents + rolled_in_cents + returned_cents - drawn_cents - rolled_out_cents - expired_cents
      <> balance_cents

union all

select
    coalesce(g.grant_id, l.grant_id),
    'the credit ledger ends at ' || coalesce(l.balance_after_cents::varchar, 'nothing') || ', the grant at '
        || coalesce(g.balance_cents::varchar, 'nothing')
from grants as g
full join last_balance as l using (grant_id)
where g.balance_cents is distinct from l.balance_after_cents

union all

select grant_id, 'negative balance after ' || credit_entry_id
from ledger
where balance_after_cents < 0

union all

select grant_id, 'the running balance does not follow at ' || credit_entry_id
from running
where balance_after_cents <> coalesce(balance_before_cents, 0) + amount_cents
   or (entry_seq = 1) <> (entry_type = 'grant')

union all

select grant_id, 'rollover ' || credit_entry_id || ' does not arrive in the next term, or exceeds its percentage'
from rollovers
where rolled_in_cents is distinct from rolled_out_cents
   or rolled_out_cents > floor(left_cents * rollover_percent * cast(0.01 as decimal(3, 2)))

union all

select invoice_id, 'its credit notes credit more money than it was paid'
from credit_note_money
where credited_cents > total_amount_cents
