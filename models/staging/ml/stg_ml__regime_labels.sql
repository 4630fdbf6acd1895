-- depends_on: {{ source('ml', 'regime_labels') }}
-- Daily regime labels mirrored from the regime store, renamed and cast (empty until the first
-- `featurecast regimes refresh`).
with source as (
    {{ source_or_empty('ml', 'regime_labels', {
        'scope': 'varchar', 'date': 'date', 'model_version': 'varchar', 'regime': 'varchar',
        'probability': 'double'}) }}
),

renamed as (
    select
        scope,
        cast(date as date)           as date,
        model_version,
        regime,
        cast(probability as double)  as probability
    from source
)

select * from renamed
