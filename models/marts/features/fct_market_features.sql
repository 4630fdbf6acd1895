{{ incremental_by_date() }}

-- Market-level features for regime detection, one row per session: the market series (an equal-weight
-- index of the universe, or the benchmark symbol named by var('market_series')) and the universe's
-- breadth, dispersion, implied average correlation and volatility. On a date with fewer than
-- var('min_universe_symbols') symbols the cross-sectional statistics are null (is_small_universe), and
-- so is an equal-weight market: two or three names are not a market.
{%- set start = incremental_start_date() %}
{%- set min_symbols = var('min_universe_symbols') %}
{%- set benchmark = none if var('market_series') == 'equal_weight' else var('market_series') | upper %}

with symbol_features as (
    select * from {{ ref('int_symbol_features_computed') }}
    where date >= {{ date_literal(sessions_before(start, var('feature_lookback_rows'))) if is_incremental() else start }}
      and ret_1d is not null
),

-- The cross-section: tradable symbols only. A benchmark (the market series, or any declared index) is
-- not a member of the market it measures (int_symbols_classified).
universe as (
    select * from symbol_features
    where symbol in (select classified.symbol from {{ ref('int_symbols_classified') }} as classified where classified.is_tradable)
),

-- Shares are averages of 1e0 / 0e0 (doubles): 1.0 is a decimal, whose average Spark rounds to 5 places.
per_date_raw as (
    select
        date,
        count(*)                                                            as n_symbols,
        ln(avg(exp(ret_1d)))                                                as equal_weight_ret_1d,
        avg(case when ret_1d > 0 then 1e0 else 0e0 end)                     as breadth_advancing,
        avg(case when ma_dist_21 is not null then (case when ma_dist_21 > 0 then 1e0 else 0e0 end) end)   as breadth_above_ma21,
        avg(case when ma_dist_200 is not null then (case when ma_dist_200 > 0 then 1e0 else 0e0 end) end) as breadth_above_ma200,
        avg(case when drawdown_252d is not null then (case when drawdown_252d = 0 then 1e0 else 0e0 end) end) as share_at_252d_high,
        stddev_samp(ret_1d)                                                 as dispersion_1d,
        stddev_samp(ret_21d)                                                as dispersion_21d,
        avg(vol_63d)                                                        as avg_symbol_vol_63d,
        avg(vol_63d * vol_63d)                                              as avg_symbol_var_63d,
        count(vol_63d)                                                      as n_symbols_vol_63d,
        max(source_loaded_at)                                               as source_loaded_at
    from universe
    group by date
),

{%- if benchmark %}

benchmark as (
    select date, ret_1d, source_loaded_at from symbol_features where symbol = '{{ benchmark }}'
),
{%- endif %}

per_date as (
    select
        {%- if benchmark %}
        -- Every date either series has: the benchmark may start before (or outlive) the universe.
        coalesce(per_date_raw.date, benchmark.date)                         as date,
        {%- else %}
        per_date_raw.date,
        {%- endif %}
        coalesce(per_date_raw.n_symbols, 0)                                 as n_symbols,
        coalesce(per_date_raw.n_symbols, 0) < {{ min_symbols }}             as is_small_universe,
        {%- for column in ['equal_weight_ret_1d', 'breadth_advancing', 'breadth_above_ma21', 'breadth_above_ma200',
                           'share_at_252d_high', 'dispersion_1d', 'dispersion_21d', 'avg_symbol_vol_63d',
                           'avg_symbol_var_63d', 'n_symbols_vol_63d'] %}
        per_date_raw.{{ column }},
        {%- endfor %}
        {%- if benchmark %}
        benchmark.ret_1d                                                    as mkt_ret_1d,
        greatest(per_date_raw.source_loaded_at, benchmark.source_loaded_at) as source_loaded_at
        {%- else %}
        case when per_date_raw.n_symbols >= {{ min_symbols }} then per_date_raw.equal_weight_ret_1d end as mkt_ret_1d,
        per_date_raw.source_loaded_at
        {%- endif %}
    from per_date_raw
    {%- if benchmark %}
    full outer join benchmark on benchmark.date = per_date_raw.date
    {%- endif %}
),

windows as (
    select
        *,
        {%- for n in [5, 21, 63, 252] %}
        case when count(mkt_ret_1d) {{ trailing_window(n, '1', 'date') }} = {{ n }}
             then sum(mkt_ret_1d) {{ trailing_window(n, '1', 'date') }} end       as mkt_ret_{{ n }}d,
        {%- endfor %}
        case when count(mkt_ret_1d) {{ trailing_window(21, '1', 'date') }} = 21
             then stddev_samp(mkt_ret_1d) {{ trailing_window(21, '1', 'date') }} * sqrt(252) end as mkt_vol_21d,
        case when count(mkt_ret_1d) {{ trailing_window(63, '1', 'date') }} = 63
             then stddev_samp(mkt_ret_1d) {{ trailing_window(63, '1', 'date') }} * sqrt(252) end as mkt_vol_63d,
        -- the equal-weight index's own volatility: the implied correlation describes that index, also when
        -- a benchmark is the market series
        case when count(case when n_symbols >= {{ min_symbols }} then equal_weight_ret_1d end) {{ trailing_window(63, '1', 'date') }} = 63
             then stddev_samp(equal_weight_ret_1d) {{ trailing_window(63, '1', 'date') }} * sqrt(252) end as equal_weight_vol_63d
    from per_date
),

final as (
    select
        date,
        n_symbols,
        is_small_universe,
        mkt_ret_1d,
        mkt_ret_5d,
        mkt_ret_21d,
        mkt_ret_63d,
        mkt_ret_252d,
        mkt_vol_21d,
        mkt_vol_63d,
        {{ safe_divide('mkt_vol_21d', 'mkt_vol_63d') }}                      as mkt_vol_ratio_21_63,
        {%- for column in ['breadth_advancing', 'breadth_above_ma21', 'breadth_above_ma200', 'share_at_252d_high', 'dispersion_1d', 'dispersion_21d'] %}
        case when not is_small_universe then {{ column }} end                 as {{ column }},
        {%- endfor %}
        -- Implied average pairwise correlation of the equal-weight index of the universe (CBOE's method):
        -- (var_index - sum w^2 var_i) / ((sum w vol_i)^2 - sum w^2 var_i), with w = 1/n, over a universe
        -- large enough to be one; with a benchmark as the market series too (it reads the equal-weight
        -- index's volatility, not the benchmark's).
        case when not is_small_universe and n_symbols_vol_63d >= 2 then
            {{ safe_divide("equal_weight_vol_63d * equal_weight_vol_63d - avg_symbol_var_63d / n_symbols_vol_63d",
                           "avg_symbol_vol_63d * avg_symbol_vol_63d - avg_symbol_var_63d / n_symbols_vol_63d") }}
        end                                                                   as avg_correlation_63d,
        source_loaded_at
    from windows
)

-- The contract's columns in the YAML's order, cast to their declared types (see cast_to_contract).
select {{ cast_to_contract(model.columns, overrides={"market_series": "'" ~ (benchmark or "equal_weight") ~ "'"}) }}
from final
where date >= {{ start }}
