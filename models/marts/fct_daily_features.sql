{{ incremental_by_date() }}

-- The daily feature mart, grain (symbol, date): the per-symbol time-series features, their relation to
-- the market (rolling beta, correlation, residual returns and volatility) and cross-sectional ranks.
-- Every value at date t uses data up to t only.
-- Window passes run on narrow projections joined back by key: DuckDB carries every column through a
-- window operator, and this mart is 66 columns wide.
{%- set start = incremental_start_date() %}
{%- set min_symbols = var('min_universe_symbols') %}
{%- set benchmark = none if var('market_series') == 'equal_weight' else var('market_series') | upper %}

with symbol_features as (
    {{ select_with_lookback(ref('int_symbol_features_computed'), start, 100, 'symbol') }}
),

market as (
    select date, mkt_ret_1d, mkt_ret_21d from {{ ref('fct_market_features') }}
),

relative_input as (
    select symbol_features.symbol, symbol_features.date, symbol_features.history_rows,
           symbol_features.ret_1d, symbol_features.vol_63d, market.mkt_ret_1d
    from symbol_features
    left join market on market.date = symbol_features.date
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
    select * from symbol_features where date >= {{ start }}
),

-- Cross-sectional ranks among the symbols trading that day (the benchmark is the market, not a
-- member), only where at least var('min_universe_symbols') of them do: a rank among two is noise.
rank_input as (
    select * from (
        select symbol, date, ret_5d, ret_21d, mom_252_21, vol_21d, volume_z_21d, ma_dist_21, rsi_14,
               count(*) over (partition by date) as universe_symbols
        from symbol_features
        where date >= {{ start }}
        {%- if benchmark %}
          and symbol <> '{{ benchmark }}'
        {%- endif %}
    ) where universe_symbols >= {{ min_symbols }}
),

cross_sectional as (
    select
        symbol,
        date,
        case when ret_5d is not null then percent_rank() over (partition by date, ret_5d is null order by ret_5d) end as cs_rank_ret_5d,
        case when ret_21d is not null then percent_rank() over (partition by date, ret_21d is null order by ret_21d) end as cs_rank_ret_21d,
        case when mom_252_21 is not null then percent_rank() over (partition by date, mom_252_21 is null order by mom_252_21) end as cs_rank_mom_252_21,
        case when vol_21d is not null then percent_rank() over (partition by date, vol_21d is null order by vol_21d) end as cs_rank_vol_21d,
        case when volume_z_21d is not null then percent_rank() over (partition by date, volume_z_21d is null order by volume_z_21d) end as cs_rank_volume_z_21d,
        case when ma_dist_21 is not null then percent_rank() over (partition by date, ma_dist_21 is null order by ma_dist_21) end as cs_rank_ma_dist_21,
        case when rsi_14 is not null then percent_rank() over (partition by date, rsi_14 is null order by rsi_14) end as cs_rank_rsi_14
    from rank_input
),

ranked as (
    select
        output_rows.*,
        {{ safe_divide('output_rows.vol_5d', 'output_rows.vol_63d') }}                                as vol_ratio_5_63,
        output_rows.ret_21d - market.mkt_ret_21d                                                     as rel_strength_21d,
        residual_windows.* exclude (symbol, date),
        cross_sectional.* exclude (symbol, date)
    from output_rows
    join residual_windows on residual_windows.symbol = output_rows.symbol and residual_windows.date = output_rows.date
    left join cross_sectional on cross_sectional.symbol = output_rows.symbol and cross_sectional.date = output_rows.date
    left join market on market.date = output_rows.date
)

select
    cast(symbol as varchar) as symbol,
    cast(date as date) as date,
    cast(close as double) as close,
    cast(volume as bigint) as volume,
    cast(volume_status as varchar) as volume_status,
    cast(history_rows as integer) as history_rows,
    cast(ret_1d as double) as ret_1d,
    cast(ret_5d as double) as ret_5d,
    cast(ret_10d as double) as ret_10d,
    cast(ret_21d as double) as ret_21d,
    cast(ret_63d as double) as ret_63d,
    cast(ret_126d as double) as ret_126d,
    cast(ret_252d as double) as ret_252d,
    cast(mom_252_21 as double) as mom_252_21,
    cast(vol_5d as double) as vol_5d,
    cast(vol_21d as double) as vol_21d,
    cast(vol_63d as double) as vol_63d,
    cast(parkinson_vol_21d as double) as parkinson_vol_21d,
    cast(garman_klass_vol_21d as double) as garman_klass_vol_21d,
    cast(hl_log_range as double) as hl_log_range,
    cast(atr_14_pct as double) as atr_14_pct,
    cast(kbar_body as double) as kbar_body,
    cast(kbar_upper_shadow as double) as kbar_upper_shadow,
    cast(kbar_lower_shadow as double) as kbar_lower_shadow,
    cast(close_location as double) as close_location,
    cast(ma_dist_5 as double) as ma_dist_5,
    cast(ma_dist_10 as double) as ma_dist_10,
    cast(ma_dist_21 as double) as ma_dist_21,
    cast(ma_dist_63 as double) as ma_dist_63,
    cast(ma_dist_200 as double) as ma_dist_200,
    cast(ma_cross_21_63 as double) as ma_cross_21_63,
    cast(rsi_14 as double) as rsi_14,
    cast(macd as double) as macd,
    cast(macd_signal as double) as macd_signal,
    cast(macd_hist as double) as macd_hist,
    cast(bollinger_pct_b_21 as double) as bollinger_pct_b_21,
    cast(bollinger_width_21 as double) as bollinger_width_21,
    cast(drawdown_63d as double) as drawdown_63d,
    cast(drawdown_252d as double) as drawdown_252d,
    cast(rally_from_low_63d as double) as rally_from_low_63d,
    cast(high_recency_63d as double) as high_recency_63d,
    cast(stochastic_k_21 as double) as stochastic_k_21,
    cast(up_day_ratio_21d as double) as up_day_ratio_21d,
    cast(ret_skew_63d as double) as ret_skew_63d,
    cast(ret_kurt_63d as double) as ret_kurt_63d,
    cast(volume_z_21d as double) as volume_z_21d,
    cast(volume_z_63d as double) as volume_z_63d,
    cast(volume_ratio_5_21 as double) as volume_ratio_5_21,
    cast(log_dollar_volume_21d as double) as log_dollar_volume_21d,
    cast(amihud_illiquidity_21d as double) as amihud_illiquidity_21d,
    cast(pv_corr_21d as double) as pv_corr_21d,
    cast(pv_level_corr_21d as double) as pv_level_corr_21d,
    cast(vol_ratio_5_63 as double) as vol_ratio_5_63,
    cast(beta_63d as double) as beta_63d,
    cast(corr_mkt_63d as double) as corr_mkt_63d,
    cast(resid_ret_1d as double) as resid_ret_1d,
    cast(resid_ret_21d as double) as resid_ret_21d,
    cast(resid_vol_63d as double) as resid_vol_63d,
    cast(rel_strength_21d as double) as rel_strength_21d,
    cast(cs_rank_ret_5d as double) as cs_rank_ret_5d,
    cast(cs_rank_ret_21d as double) as cs_rank_ret_21d,
    cast(cs_rank_mom_252_21 as double) as cs_rank_mom_252_21,
    cast(cs_rank_vol_21d as double) as cs_rank_vol_21d,
    cast(cs_rank_volume_z_21d as double) as cs_rank_volume_z_21d,
    cast(cs_rank_ma_dist_21 as double) as cs_rank_ma_dist_21,
    cast(cs_rank_rsi_14 as double) as cs_rank_rsi_14,
    cast(source_loaded_at as timestamp) as source_loaded_at
from ranked
