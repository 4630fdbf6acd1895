-- Daily returns and equity of every named portfolio: `equal_weight` over the universe, the weight sets
-- in seeds/portfolio_weights.csv, and the books the Python side runs (the backtest's signal_strategy,
-- net of costs). Rebalanced daily; weights renormalised over the symbols that
-- traded that day. Equity starts at 1.0 on each portfolio's first day.
-- The daily returns are fct_daily_features' ret_1d, read where it is computed (same rows and values): the
-- portfolios and the forecast marts after them need not wait for the market-relative features.
with features as (
    select symbol, date, ret_1d from {{ ref('int_symbol_features_computed') }} where ret_1d is not null
),

weights as (
    select * from {{ ref('portfolio_weights') }}
),

-- over the tradable symbols: a benchmark (an index) is not a holding
equal_weight as (
    select 'equal_weight' as portfolio, date, ln(avg(exp(ret_1d))) as ret_1d, count(*) as holdings
    from features
    where symbol in (select classified.symbol from {{ ref('int_symbols_classified') }} as classified where classified.is_tradable)
    group by date
),

weighted as (
    select
        weights.portfolio,
        features.date,
        ln(sum(weights.weight * exp(features.ret_1d)) / sum(weights.weight)) as ret_1d,
        count(*) as holdings
    from features
    inner join weights on features.symbol = weights.symbol
    group by weights.portfolio, features.date
),

books as (
    select portfolio, date, ret_1d, holdings from {{ ref('stg_ml__portfolio_books') }}
),

returns as (
    select * from equal_weight
    union all
    select * from weighted
    union all
    select * from books
)

select
    cast(portfolio as string)                                                             as portfolio,
    cast(date as date)                                                                     as date,
    cast(ret_1d as double)                                                                 as ret_1d,
    cast(exp(sum(ret_1d) over (partition by portfolio order by date
        rows between unbounded preceding and current row)) as double)                      as equity,
    cast(holdings as integer)                                                              as holdings
from returns
