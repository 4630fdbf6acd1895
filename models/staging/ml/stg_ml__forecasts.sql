-- depends_on: {{ source('ml', 'forecasts') }}
-- The forecast history, renamed and cast. ml.forecasts is created by the first `featurecast forecasts
-- issue`; until then this view is empty with the same columns, so the evaluation marts build anyway.
with source as (
    {{ source_or_empty('ml', 'forecasts', {
        'portfolio': 'string', 'issue_date': 'date', 'horizon': 'integer', 'target_date': 'date',
        'model': 'string', 'model_version': 'string', 'equity_at_issue': 'double',
        'q05': 'double', 'q50': 'double', 'q95': 'double'}) }}
),

renamed as (
    select
        portfolio,
        cast(issue_date as date)         as issue_date,
        cast(horizon as integer)         as horizon,
        cast(target_date as date)        as target_date,
        model,
        model_version,
        cast(equity_at_issue as double)  as equity_at_issue,
        cast(q05 as double)              as q05,
        cast(q50 as double)              as q50,
        cast(q95 as double)              as q95
    from source
)

select * from renamed
