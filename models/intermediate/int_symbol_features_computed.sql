{{ incremental_by_date() }}

-- Per-symbol time-series features on the cleaned price series. Every window ends at the current row
-- (no `following` frames, no lead()), so a feature at date t uses data up to t only; a window is
-- null until it has all its rows.
{%- set start = incremental_start_date() %}
{%- set lookback = var('feature_lookback_rows') %}
{#- Rows the longest trailing window reads: ret_252d, mom_252_21 and drawdown_252d (the row and 252 before). -#}
{%- set window_rows = 253 %}
{#- Rows every other window reads: the 63-row ones (ret_63d, and volume_z_63d's 63 rows before the row). -#}
{%- set short_window_rows = 64 %}
{#- The windows longer than short_window_rows. An incremental run evaluates them in their own pass over
    window_rows rows per symbol and every other window over short_window_rows, so a night costs what
    the windows of its own rows read, not four times that (a window is computed for every row it is
    given). A full build evaluates every row anyway: one pass, no join. -#}
{%- set split_long = is_incremental() %}
{%- set long_windows = {
    'ret_126d': "ln(close / lag(close, 126) over (partition by symbol order by date))",
    'ret_252d': "ln(close / lag(close, 252) over (partition by symbol order by date))",
    'mom_252_21': "ln(lag(close, 21) over (partition by symbol order by date) / lag(close, 252) over (partition by symbol order by date))",
    'ma_dist_200': when_history(200, "close / avg(close) " ~ trailing_window(200) ~ " - 1"),
    'drawdown_252d': when_history(252, "close / max(close) " ~ trailing_window(252) ~ " - 1"),
} %}

with prices as (
    {{ select_with_lookback(ref('int_prices_cleaned'), start, lookback, 'symbol') }}
),

base as (
    select
        *,
        least(row_number() over (partition by symbol order by date), {{ lookback }})  as history_rows,
        row_number() over (partition by symbol order by date)                        as series_row,
        sum(case when date < {{ start }} then 1 else 0 end) over (partition by symbol) as rows_before_start,
        lag(close) over (partition by symbol order by date)                          as prev_close,
        ln(close / lag(close) over (partition by symbol order by date))              as r,
        close - lag(close) over (partition by symbol order by date)                  as price_change,
        ln(volume + 1)                                                               as log_volume,
        ln(high / low)                                                               as hl_log_range,
        ln(close / open)                                                             as co_log_return
    from prices
),

base2 as (
    select
        *,
        greatest(price_change, 0)                                                    as gain,
        greatest(-price_change, 0)                                                   as loss,
        -- a close-only bar has no true range (greatest() would skip the missing high and give 0)
        case when high is not null and low is not null
             then greatest(high, coalesce(prev_close, high)) - least(low, coalesce(prev_close, low)) end as true_range,
        log_volume - lag(log_volume) over (partition by symbol order by date)        as log_volume_change
    from base
),

{%- if split_long %}
long_windows as (
    -- the rows to build and the window_rows - 1 before them
    select
        symbol,
        session_number,
        {%- for name, expr in long_windows.items() %}
        {{ expr }} as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from base2
    where series_row > rows_before_start - {{ window_rows - 1 }}
),
{%- endif %}

windows as (
    select
        symbol,
        date,
        session_number,
        close,
        volume,
        volume_status,
        price_fields,
        history_rows,
        source_loaded_at,
        r                                                                            as ret_1d,
        {%- for n in [5, 10, 21, 63] %}
        ln(close / lag(close, {{ n }}) over (partition by symbol order by date))      as ret_{{ n }}d,
        {%- endfor %}
        {%- for name in ['ret_126d', 'ret_252d', 'mom_252_21'] %}
        {{ 'long_windows.' ~ name if split_long else long_windows[name] }} as {{ name }},
        {%- endfor %}
        {%- for n in [5, 21, 63] %}
        {{ when_history(n + 1, "stddev_samp(r) " ~ trailing_window(n)) }} * sqrt(252)                         as vol_{{ n }}d,
        {%- endfor %}
        {#- The range features need every bar of their window to have its intraday range (price_fields
            'ohlc'): over close-only bars they are null, never a zero range. -#}
        {%- set full_range_21 = "count(hl_log_range) " ~ trailing_window(21) ~ " = 21" %}
        {{ when_history(21, "case when " ~ full_range_21 ~ " then sqrt(avg(hl_log_range * hl_log_range) " ~ trailing_window(21) ~ " / (4 * ln(2))) end") }} * sqrt(252) as parkinson_vol_21d,
        {{ when_history(21, "case when " ~ full_range_21 ~ " then sqrt(greatest(avg(0.5 * hl_log_range * hl_log_range - (2 * ln(2) - 1) * co_log_return * co_log_return) " ~ trailing_window(21) ~ ", 0)) end") }} * sqrt(252) as garman_klass_vol_21d,
        hl_log_range,
        {{ safe_divide('close - open', 'open') }}                                     as kbar_body,
        {{ safe_divide('high - greatest(open, close)', 'open') }}                     as kbar_upper_shadow,
        {{ safe_divide('least(open, close) - low', 'open') }}                         as kbar_lower_shadow,
        {{ safe_divide('close - low', 'high - low') }}                                as close_location,
        {%- for n in [5, 10, 21, 63] %}
        {{ when_history(n, "close / avg(close) " ~ trailing_window(n) ~ " - 1") }}                            as ma_dist_{{ n }},
        {%- endfor %}
        {{ 'long_windows.ma_dist_200' if split_long else long_windows['ma_dist_200'] }} as ma_dist_200,
        {{ when_history(63, "avg(close) " ~ trailing_window(21) ~ " / avg(close) " ~ trailing_window(63) ~ " - 1") }}         as ma_cross_21_63,
        {{ when_history(21, "(close - (avg(close) " ~ trailing_window(21) ~ " - 2 * stddev_samp(close) " ~ trailing_window(21) ~ ")) / nullif(4 * stddev_samp(close) " ~ trailing_window(21) ~ ", 0)") }} as bollinger_pct_b_21,
        {{ when_history(21, "4 * stddev_samp(close) " ~ trailing_window(21) ~ " / avg(close) " ~ trailing_window(21)) }}     as bollinger_width_21,
        {{ when_history(63, "close / max(close) " ~ trailing_window(63) ~ " - 1") }}                          as drawdown_63d,
        {{ 'long_windows.drawdown_252d' if split_long else long_windows['drawdown_252d'] }} as drawdown_252d,
        {{ when_history(63, "close / min(close) " ~ trailing_window(63) ~ " - 1") }}                          as rally_from_low_63d,
        {{ when_history(63, "(series_row - " ~ session_of_max("close", "series_row", trailing_window(63)) ~ ") / 63e0") }} as high_recency_63d,
        {{ when_history(21, "case when " ~ full_range_21 ~ " then (close - min(low) " ~ trailing_window(21) ~ ") / nullif(max(high) " ~ trailing_window(21) ~ " - min(low) " ~ trailing_window(21) ~ ", 0) end") }} as stochastic_k_21,
        {{ when_history(22, "avg(case when r > 0 then 1e0 else 0e0 end) " ~ trailing_window(21)) }}           as up_day_ratio_21d,
        {{ when_history(64, sample_skewness("r", trailing_window(63))) }}                                     as ret_skew_63d,
        {{ when_history(64, sample_excess_kurtosis("r", trailing_window(63))) }}                              as ret_kurt_63d,
        {{ when_history(22, trailing_zscore('log_volume', 'symbol', 'date', 21, 21)) }}         as volume_z_21d,
        {{ when_history(64, trailing_zscore('log_volume', 'symbol', 'date', 63, 63)) }}         as volume_z_63d,
        {{ when_history(21, "avg(volume) " ~ trailing_window(5) ~ " / nullif(avg(volume) " ~ trailing_window(21) ~ ", 0)") }} as volume_ratio_5_21,
        {{ when_history(21, "ln(nullif(avg(close * volume) " ~ trailing_window(21) ~ ", 0))") }}               as log_dollar_volume_21d,
        {{ when_history(22, "avg(abs(r) / nullif(close * volume, 0)) " ~ trailing_window(21) ~ " * 1e9") }}  as amihud_illiquidity_21d,
        {{ when_history(23, "corr(r, log_volume_change) " ~ trailing_window(21)) }}                           as pv_corr_21d,
        {{ when_history(21, "corr(close, log_volume) " ~ trailing_window(21)) }}                              as pv_level_corr_21d
    from base2
    {%- if split_long %}
    inner join long_windows using (symbol, session_number)
    {%- endif %}
    -- the rows to build and the rows before them the windows read: older rows only feed the EMAs (and
    -- history_rows, already counted), so the trailing windows skip them
    where series_row > rows_before_start - {{ (short_window_rows if split_long else window_rows) - 1 }}
),

emas as (
    {{ ema_query('base2', [
        ('ema_12', 'close', 2 / 13),
        ('ema_26', 'close', 2 / 27),
        ('avg_gain_14', 'gain', 1 / 14),
        ('avg_loss_14', 'loss', 1 / 14),
        ('atr_14', 'true_range', 1 / 14),
    ]) }}
),

-- The EMA oscillators. On an incremental run they read the price rows (the rows to build and the
-- window_rows - 1 before them: the MACD signal line, an EMA of the MACD, reads two of its blocks of
-- history), since the short window pass holds fewer; a full build reads the window pass, as it has
-- every row (one join fewer over all of history).
oscillators as (
    select
        {{ 'priced.symbol, priced.session_number, priced.history_rows' if split_long else 'priced.*' }},
        {{ when_history(26, "(emas.ema_12 - emas.ema_26) / priced.close") }}                        as macd,
        {{ when_history(15, "100 * emas.avg_gain_14 / nullif(emas.avg_gain_14 + emas.avg_loss_14, 0)") }} as rsi_14,
        {{ when_history(15, "case when priced.hl_log_range is not null then emas.atr_14 / priced.close end") }} as atr_14_pct
    from {{ 'base2' if split_long else 'windows' }} as priced
    inner join emas on priced.symbol = emas.symbol and priced.session_number = emas.session_number
    {%- if split_long %}
    where priced.series_row > priced.rows_before_start - {{ window_rows - 1 }}
    {%- endif %}
),

macd_values as (
    select symbol, session_number, macd from oscillators
),

macd_signal as (
    {{ ema_query('macd_values', [('macd_signal', 'macd', 2 / 10)]) }}
),

signal_line as (
    select
        {{ 'windows.*, oscillators.macd, oscillators.rsi_14, oscillators.atr_14_pct' if split_long else 'oscillators.*' }},
        {{ when_history(34, 'macd_signal.macd_signal', 'oscillators.history_rows') }} as macd_signal
    from oscillators
    {%- if split_long %}
    inner join windows
      on oscillators.symbol = windows.symbol and oscillators.session_number = windows.session_number
    {%- endif %}
    inner join macd_signal
      on oscillators.symbol = macd_signal.symbol and oscillators.session_number = macd_signal.session_number
    where {{ 'windows' if split_long else 'oscillators' }}.date >= {{ start }}
)

select
    *,
    macd - macd_signal as macd_hist
from signal_line
