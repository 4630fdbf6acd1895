-- depends_on: {{ source('ml', 'portfolio_books') }}
-- Daily returns of portfolios the Python side runs itself (the backtest's signal_strategy book), renamed
-- and cast (empty until the first backtest).
with source as (
    {{ source_or_empty('ml', 'portfolio_books', {
        'portfolio': 'string', 'date': 'date', 'ret_1d': 'double', 'holdings': 'integer', 'run_id': 'string'}) }}
),

renamed as (
    select
        portfolio,
        cast(date as date)          as date,
        cast(ret_1d as double)      as ret_1d,
        cast(holdings as integer)   as holdings,
        run_id
    from source
)

select * from renamed
