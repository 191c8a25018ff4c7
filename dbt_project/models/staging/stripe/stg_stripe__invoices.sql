{#- Stripe invoices, the current version of each. meterhouse_invoice_id (metadata) names the Meterhouse
    invoice it was issued from; meterhouse_billing_month (metadata) its billing month, as the publisher
    sets them. Money in the currency's minor unit (bigint, as Stripe sends it); currency upper-case ISO. -#}
with

source as (select * from {{ source('stripe', 'stripe_invoices') }}),

renamed as (
    select
        id as stripe_invoice_id,
        customer as stripe_customer_id,
        subscription as stripe_subscription_id,
        status as invoice_status,
        number as invoice_number,
        upper(currency) as currency,
        collection_method,
        billing_reason,
        subtotal as subtotal_cents,
        total as total_cents,
        amount_due as amount_due_cents,
        amount_paid as amount_paid_cents,
        amount_remaining as amount_remaining_cents,
        starting_balance as starting_balance_cents,
        pre_payment_credit_notes_amount as pre_payment_credit_notes_cents,
        post_payment_credit_notes_amount as post_payment_credit_notes_cents,
        lines_total_count as lines_count,
        nullif(trim(meterhouse_invoice_id), '') as meterhouse_invoice_id,
        nullif(trim(json_extract_string(object_json, '$.metadata.meterhouse_billing_month')), '')
            as meterhouse_billing_month,
        period_start as period_start_at,
        period_end as period_end_at,
        due_date as due_at,
        finalized_at,
        paid_at,
        voided_at,
        created as created_at,
        deleted as is_deleted,
        stripe_updated_seq,
        version_no,
        loaded_at
    from source
)

select * from renamed
