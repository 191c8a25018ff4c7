{#- Stripe credit notes, the current version of each. meterhouse_credit_note_id (metadata, set by the
    publisher) names the Meterhouse credit note it publishes; null for a credit note made in Stripe. -#}
with

source as (select * from {{ source('stripe', 'stripe_credit_notes') }}),

renamed as (
    select
        id as stripe_credit_note_id,
        invoice as stripe_invoice_id,
        customer as stripe_customer_id,
        status as credit_note_status,
        type as credit_note_type,
        reason,
        number as credit_note_number,
        upper(currency) as currency,
        amount as amount_cents,
        total as total_cents,
        pre_payment_amount as pre_payment_cents,
        post_payment_amount as post_payment_cents,
        out_of_band_amount as out_of_band_cents,
        nullif(trim(json_extract_string(object_json, '$.metadata.meterhouse_credit_note_id')), '')
            as meterhouse_credit_note_id,
        effective_at,
        voided_at,
        created as created_at,
        loaded_at
    from source
)

select * from renamed
