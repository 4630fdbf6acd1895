-- depends_on: {{ source('ml', 'regime_models') }}
-- Fitted regime model versions, renamed and cast (empty until the first `featurecast regimes refresh`).
with source as (
    {{ source_or_empty('ml', 'regime_models', {
        'model_version': 'string', 'scope': 'string', 'fitted_at': 'timestamp', 'fit_start': 'date',
        'fit_end': 'date'}) }}
),

renamed as (
    select
        model_version,
        scope,
        cast(fitted_at as timestamp)  as fitted_at,
        cast(fit_start as date)       as fit_start,
        cast(fit_end as date)         as fit_end
    from source
)

select * from renamed
