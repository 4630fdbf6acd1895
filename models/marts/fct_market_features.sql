{{ incremental_by_date() }}

-- Market-level features for regime detection: an equal-weight index of the universe and its
-- breadth, dispersion, implied average correlation and volatility, one row per session.
{%- set start = incremental_start_date() %}

with symbol_features as (
    select * from {{ ref('int_symbol_features_computed') }}
    where date >= {{ sessions_before(start, var('feature_lookback_rows')) }}
      and ret_1d is not null
),

per_date as (
    select
        date,
        count(*)                                                            as n_symbols,
        ln(avg(exp(ret_1d)))                                                as mkt_ret_1d,
        avg(case when ret_1d > 0 then 1.0 else 0.0 end)                     as breadth_advancing,
        avg(case when ma_dist_21 is not null then (case when ma_dist_21 > 0 then 1.0 else 0.0 end) end)   as breadth_above_ma21,
        avg(case when ma_dist_200 is not null then (case when ma_dist_200 > 0 then 1.0 else 0.0 end) end) as breadth_above_ma200,
        avg(case when drawdown_252d is not null then (case when drawdown_252d = 0 then 1.0 else 0.0 end) end) as share_at_252d_high,
        stddev_samp(ret_1d)                                                 as dispersion_1d,
        stddev_samp(ret_21d)                                                as dispersion_21d,
        avg(vol_63d)                                                        as avg_symbol_vol_63d,
        avg(vol_63d * vol_63d)                                              as avg_symbol_var_63d,
        count(vol_63d)                                                      as n_symbols_vol_63d,
        max(source_loaded_at)                                               as source_loaded_at
    from symbol_features
    group by date
),

windows as (
    select
        *,
        row_number() over (order by date)                                   as history_rows,
        {%- for n in [5, 21, 63, 252] %}
        sum(mkt_ret_1d) {{ trailing_window(n, '1', 'date') }}                as mkt_ret_{{ n }}d_raw,
        {%- endfor %}
        stddev_samp(mkt_ret_1d) {{ trailing_window(21, '1', 'date') }} * sqrt(252) as mkt_vol_21d_raw,
        stddev_samp(mkt_ret_1d) {{ trailing_window(63, '1', 'date') }} * sqrt(252) as mkt_vol_63d_raw
    from per_date
),

final as (
    select
        date,
        n_symbols,
        mkt_ret_1d,
        {%- for n in [5, 21, 63, 252] %}
        {{ when_history(n, 'mkt_ret_' ~ n ~ 'd_raw') }}                        as mkt_ret_{{ n }}d,
        {%- endfor %}
        {{ when_history(21, 'mkt_vol_21d_raw') }}                             as mkt_vol_21d,
        {{ when_history(63, 'mkt_vol_63d_raw') }}                             as mkt_vol_63d,
        {{ when_history(63, safe_divide('mkt_vol_21d_raw', 'mkt_vol_63d_raw')) }} as mkt_vol_ratio_21_63,
        breadth_advancing,
        breadth_above_ma21,
        breadth_above_ma200,
        share_at_252d_high,
        dispersion_1d,
        dispersion_21d,
        -- Implied average pairwise correlation of an equal-weight index (CBOE's method):
        -- (var_index - sum w^2 var_i) / ((sum w vol_i)^2 - sum w^2 var_i), with w = 1/n.
        {{ when_history(63, "case when n_symbols_vol_63d >= 2 then "
            ~ safe_divide("mkt_vol_63d_raw * mkt_vol_63d_raw - avg_symbol_var_63d / n_symbols_vol_63d",
                          "avg_symbol_vol_63d * avg_symbol_vol_63d - avg_symbol_var_63d / n_symbols_vol_63d")
            ~ " end") }}                                                      as avg_correlation_63d,
        source_loaded_at
    from windows
)

select
    cast(date as date)                       as date,
    cast(n_symbols as integer)               as n_symbols,
    cast(mkt_ret_1d as double)               as mkt_ret_1d,
    cast(mkt_ret_5d as double)               as mkt_ret_5d,
    cast(mkt_ret_21d as double)              as mkt_ret_21d,
    cast(mkt_ret_63d as double)              as mkt_ret_63d,
    cast(mkt_ret_252d as double)             as mkt_ret_252d,
    cast(mkt_vol_21d as double)              as mkt_vol_21d,
    cast(mkt_vol_63d as double)              as mkt_vol_63d,
    cast(mkt_vol_ratio_21_63 as double)      as mkt_vol_ratio_21_63,
    cast(breadth_advancing as double)        as breadth_advancing,
    cast(breadth_above_ma21 as double)       as breadth_above_ma21,
    cast(breadth_above_ma200 as double)      as breadth_above_ma200,
    cast(share_at_252d_high as double)       as share_at_252d_high,
    cast(dispersion_1d as double)            as dispersion_1d,
    cast(dispersion_21d as double)           as dispersion_21d,
    cast(avg_correlation_63d as double)      as avg_correlation_63d,
    cast(source_loaded_at as timestamp)      as source_loaded_at
from final
where date >= {{ start }}
