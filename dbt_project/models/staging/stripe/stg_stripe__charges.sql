{#- Stripe charges, the current version of each. Which invoice a charge paid: since API version
    2025-03-31.basil a charge no longer names its invoice (the link is the invoice payment, which the
    sync does not store), so stripe_invoice_id is the charge's own `invoice` field when the stored
    object has one (older API versions), else null; invoice_number is the number in the description
    Stripe gives invoice charges ("Payment for Invoice <number>"), which the marts join on. -#}
with

source as (select * from {{ source('stripe', 'stripe_charges') }}),

renamed as (
    select
        id as stripe_charge_id,
        customer as stripe_customer_id,
        status as charge_status,
        upper(currency) as currency,
        amount as amount_cents,
        amount_captured as amount_captured_cents,
        amount_refunded as amount_refunded_cents,
        paid as is_paid,
        refunded as is_refunded,
        payment_intent as stripe_payment_intent_id,
        failure_code,
        nullif(json_extract_string(object_json, '$.invoice'), '') as stripe_invoice_id,
        nullif(regexp_extract(json_extract_string(object_json, '$.description'),
                              '^Payment for [Ii]nvoice #?(\S+)', 1), '') as invoice_number,
        created as created_at,
        loaded_at
    from source
)

select * from renamed
