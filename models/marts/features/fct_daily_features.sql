{{ incremental_by_date() }}

-- The daily feature mart, grain (symbol, date): the per-symbol time-series features, their relation to
-- the market (rolling beta, correlation, residual returns and volatility) and cross-sectional ranks.
-- Every value at date t uses data up to t only.
-- Window passes run on narrow projections joined back by key: DuckDB carries every column through a
-- window operator, and this mart is 66 columns wide.
{%- set start = incremental_start_date() %}
{%- set min_symbols = var('min_universe_symbols') %}
{%- set benchmark = none if var('market_series') == 'equal_weight' else var('market_series') | upper %}
{%- set cs_ranked = ['ret_5d', 'ret_21d', 'mom_252_21', 'vol_21d', 'volume_z_21d', 'ma_dist_21', 'rsi_14'] %}

-- The 63-session windows below read 100 rows of history before the first changed date; only the
-- columns they need are read from that history.
with symbol_history as (
    {{ select_with_lookback(
        "(select symbol, date, history_rows, ret_1d, vol_63d from " ~ ref('int_symbol_features_computed') ~ ") as history",
        start, 100, 'symbol') }}
),

market as (
    select date, mkt_ret_1d, mkt_ret_21d from {{ ref('fct_market_features') }}
),

relative_input as (
    select symbol_history.symbol, symbol_history.date, symbol_history.history_rows,
           symbol_history.ret_1d, symbol_history.vol_63d, market.mkt_ret_1d
    from symbol_history
    left join market on symbol_history.date = market.date
),

relative as (
    select
        *,
        -- Against a market with a full 63-session window (an equal-weight market is null on dates with
        -- too few symbols); never for the benchmark against itself.
        case when count(mkt_ret_1d) {{ trailing_window(63) }} = 63 {% if benchmark %}and symbol <> '{{ benchmark }}'{% endif %}
             then {{ when_history(64, "regr_slope(ret_1d, mkt_ret_1d) " ~ trailing_window(63)) }} end as beta_63d,
        case when count(mkt_ret_1d) {{ trailing_window(63) }} = 63 {% if benchmark %}and symbol <> '{{ benchmark }}'{% endif %}
             then {{ when_history(64, "corr(ret_1d, mkt_ret_1d) " ~ trailing_window(63)) }} end  as corr_mkt_63d
    from relative_input
),

residuals as (
    select
        *,
        ret_1d - beta_63d * mkt_ret_1d                                                              as resid_ret_1d,
        vol_63d * sqrt(greatest(1 - corr_mkt_63d * corr_mkt_63d, 0))                                as resid_vol_63d
    from relative
),

residual_windows as (
    select
        symbol,
        date,
        beta_63d,
        corr_mkt_63d,
        resid_ret_1d,
        resid_vol_63d,
        case when count(resid_ret_1d) {{ trailing_window(21) }} = 21
             then sum(resid_ret_1d) {{ trailing_window(21) }} end                                    as resid_ret_21d
    from residuals
),

output_rows as (
    select * from {{ ref('int_symbol_features_computed') }} where date >= {{ start }}
),

-- Cross-sectional ranks among the tradable symbols trading that day (a benchmark is not a member),
-- only where at least var('min_universe_symbols') of them do: a rank among two is noise.
rank_input as (
    select * from (
        select symbol, date, {{ cs_ranked | join(', ') }},
               count(*) over (partition by date) as universe_symbols
        from output_rows
        where symbol in (select classified.symbol from {{ ref('int_symbols_classified') }} as classified where classified.is_tradable)
    ) where universe_symbols >= {{ min_symbols }}
),

cross_sectional as (
    select
        symbol,
        date,
        {%- for column in cs_ranked %}
        case when {{ column }} is not null
             then percent_rank() over (partition by date, {{ column }} is null order by {{ column }}) end as cs_rank_{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from rank_input
),

ranked as (
    select
        output_rows.*,
        {{ safe_divide('output_rows.vol_5d', 'output_rows.vol_63d') }}                                as vol_ratio_5_63,
        output_rows.ret_21d - market.mkt_ret_21d                                                     as rel_strength_21d,
        {%- for column in ['beta_63d', 'corr_mkt_63d', 'resid_ret_1d', 'resid_vol_63d', 'resid_ret_21d'] %}
        residual_windows.{{ column }},
        {%- endfor %}
        {%- for column in cs_ranked %}
        cross_sectional.cs_rank_{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from output_rows
    inner join residual_windows on output_rows.symbol = residual_windows.symbol and output_rows.date = residual_windows.date
    left join cross_sectional on output_rows.symbol = cross_sectional.symbol and output_rows.date = cross_sectional.date
    left join market on output_rows.date = market.date
)

-- Every column of the contract, cast to its declared type in the YAML's order: the YAML (generated from
-- dbt_project/feature_catalog.yml by `featurecast features sync`) is the only column list.
select {{ cast_to_contract(model.columns) }}
from ranked
