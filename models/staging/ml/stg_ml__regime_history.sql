-- depends_on: {{ source('ml', 'regime_history') }}
-- The point-in-time regime history mirrored from the regime store, renamed and cast (empty until the
-- first `featurecast regimes refresh`): each day labelled by the model version current then.
with source as (
    {{ source_or_empty('ml', 'regime_history', {
        'scope': 'string', 'date': 'date', 'model_version': 'string', 'fit_end': 'date', 'regime': 'string',
        'probability': 'double'}) }}
),

renamed as (
    select
        scope,
        cast(date as date)           as date,
        model_version,
        cast(fit_end as date)        as fit_end,
        regime,
        cast(probability as double)  as probability
    from source
)

select * from renamed
