-- depends_on: {{ source('ml', 'forecasts') }}
-- The forecast history, renamed and cast. ml.forecasts is created by the first `featurecast forecasts
-- issue`; until then this view is empty with the same columns, so the evaluation marts build anyway.
{%- set relation = adapter.get_relation(database=target.database, schema='ml', identifier='forecasts') if execute else none %}

with source as (
    {%- if relation is not none %}
    select * from {{ source('ml', 'forecasts') }}
    {%- else %}
    select
        cast(null as varchar) as portfolio, cast(null as date) as issue_date, cast(null as integer) as horizon,
        cast(null as date) as target_date, cast(null as varchar) as model, cast(null as varchar) as model_version,
        cast(null as double) as equity_at_issue, cast(null as double) as q05, cast(null as double) as q50,
        cast(null as double) as q95
    where false
    {%- endif %}
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
