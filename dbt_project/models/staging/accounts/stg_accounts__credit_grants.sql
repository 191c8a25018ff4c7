{#-
  Every prepaid credit grant (DIR/credits.yml), one row each: the grants as written, and each term of a
  prepaid commitment as a paid grant of its own, `<commitment_id>#<n>` (n from 1).
  A grant pays the invoices whose issue date (the customer's timezone) is in [effective_date, expiry_date)
  (no expiry_date: never expires). A commitment term [term_start_date, term_end_date) pays the invoices
  that bill it: issued after it starts, up to and including the day it ends (the invoice at the term's
  end carries its usage, in arrears), so its effective_date is term_start_date + 1 day and its
  expiry_date term_end_date + 1 day. Term i + 1 receives what term i leaves unused, times
  rollover_percent (rollover_grant_id); the last term has none. expires_at = the instant (UTC) the grant
  expires: its expiry date's midnight in the customer's timezone. Amounts in minor units (bigint).
-#}
with

customers as (select customer_id, timezone from {{ ref('stg_accounts__customers') }}),

grants as (
    select
        grant_id,
        external_customer_id as customer_id,
        name as grant_name,
        grant_type,
        amount_cents,
        currency,
        priority,
        effective_date,
        expiry_date,
        cast(null as varchar) as commitment_id,
        cast(null as integer) as term_number,
        cast(null as date) as term_start_date,
        cast(null as date) as term_end_date,
        cast(null as {{ quantity_type() }}) as rollover_percent,
        cast(null as varchar) as rollover_grant_id
    from {{ source('raw', 'credit_grants') }}
),

commitments as (
    select
        *,
        case term when 'monthly' then 1 when 'quarterly' then 3 when 'yearly' then 12 end as term_months
    from {{ source('raw', 'credit_commitments') }}
),

{#- the loader checked that end_date is a whole number of terms after start_date -#}
commitment_terms as (
    select
        *,
        unnest(range(0, cast(date_diff('month', start_date, end_date) // term_months as bigint))) as term_index
    from commitments
),

terms as (
    select
        commitment_id || '#' || (term_index + 1) as grant_id,
        external_customer_id as customer_id,
        name as grant_name,
        'paid' as grant_type,
        amount_cents,
        currency,
        priority,
        cast(start_date + to_months(cast(term_months * term_index as integer)) as date) as term_start_date,
        cast(start_date + to_months(cast(term_months * (term_index + 1) as integer)) as date) as term_end_date,
        commitment_id,
        cast(term_index + 1 as integer) as term_number,
        cast(rollover_percent as {{ quantity_type() }}) as rollover_percent,
        case
            when start_date + to_months(cast(term_months * (term_index + 1) as integer)) < end_date
                then commitment_id || '#' || (term_index + 2)
        end as rollover_grant_id
    from commitment_terms
),

all_grants as (
    select * from grants
    union all
    select
        grant_id,
        customer_id,
        grant_name,
        grant_type,
        amount_cents,
        currency,
        priority,
        cast(term_start_date + 1 as date) as effective_date,
        cast(term_end_date + 1 as date) as expiry_date,
        commitment_id,
        term_number,
        term_start_date,
        term_end_date,
        rollover_percent,
        rollover_grant_id
    from terms
)

select
    g.*,
    c.timezone,
    {{ from_local('g.effective_date', 'c.timezone') }} as effective_at,
    {{ from_local('g.expiry_date', 'c.timezone') }} as expires_at
from all_grants as g
inner join customers as c using (customer_id)
