{#- The publication ledger: one row per Meterhouse document sent to Stripe (document_type invoice |
    credit_note, document_id the Meterhouse id), where it stands (state) and the Stripe ids it maps to.
    For a credit note, stripe_invoice_id is its original invoice's Stripe invoice. -#}
with

source as (select * from {{ source('stripe', 'stripe_published_documents') }}),

renamed as (
    select
        document_type,
        document_id,
        customer_id,
        billing_month,
        upper(currency) as currency,
        original_invoice_id,
        stripe_customer_id,
        stripe_invoice_id,
        stripe_credit_note_id,
        state as publish_state,
        meterhouse_total_cents,
        stripe_total_cents,
        last_error,
        finalized_at,
        first_seen_at,
        updated_at
    from source
)

select * from renamed
