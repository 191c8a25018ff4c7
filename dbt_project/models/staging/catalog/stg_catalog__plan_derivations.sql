{#-
  How each plan code of the catalog tables derives from catalog.yml (ingestion/plan_versions.py,
  ingestion/overrides.py): a catalog plan (price_version null, no subscription), a price version of it
  (DIR/plan_versions.yml, `<plan>@<version>`, from version_effective_from) or a subscription's deal on it
  (DIR/overrides.yml, `<plan>[@<version>]~<subscription>`, from override_effective_from). Dates are read
  in each customer's timezone: a price takes effect at the first billing period starting on or after it.
-#}
with

source as (select * from {{ source('raw', 'plan_derivations') }}),

renamed as (
    select
        plan_code,
        base_plan_code,
        price_version,
        subscription_id as override_subscription_id,
        version_effective_from,
        override_effective_from,
        source_file,
        loaded_at
    from source
)

select * from renamed
