{{ incremental_by_date() }}

-- Statistical guardrails. Every flag on day t uses bars up to t, except one: whether a return spike is
-- a bad print is known only when the next bar shows whether the move reversed, so a spike's verdict is
-- 'pending' until then and final from the next bar on (incremental runs rebuild the session before the
-- first new bar, see incremental_start_date, so an incremental refresh still equals a full rebuild).
--
-- Return spikes (docs/guardrails.md): a bar whose judged return is beyond var('return_spike_robust_z')
-- robust sd of its trailing window is a candidate. A candidate the next bar reverses (it takes back at
-- least var('spike_reversal_share') of the move: the classic bad tick) is a bad print, quarantined; one
-- that does not reverse is a genuine move, kept in the features and reported as a warning. A move beyond
-- var('return_implausible_ratio') in one session is quarantined whatever happens next, and a move whose
-- price ratio matches a common split ratio is reported as a possible unadjusted split, with or without
-- a trailing window to judge it by.
--
-- Stale prices need evidence of a repeated feed bar: where volume is reported, the whole bar (its prices
-- and volume; a close-only bar's close and volume) identical for var('stale_price_sessions') sessions; where the bar has open, high and low
-- but no volume, those four identical as long. A close-only bar without volume has only its close: a
-- run of k equal closes is stale when k >= var('stale_price_sessions') and p^(k-1) < var('stale_close_alpha'),
-- where p = (u + 1) / (n + 2) is the symbol's own rate of unchanged closes, u of n, over the trailing
-- var('stale_close_history_rows') bars outside the run (its tick size and volatility, measured): a
-- coarse-tick or quiet stock repeats closes often and may repeat them longer.
{%- set training = var('guardrail_training_rows') %}
{%- set min_rows = var('guardrail_min_training_rows') %}
{%- set history = var('stale_close_history_rows') %}
{%- set start = incremental_start_date() %}
{%- set rows_frame = "over (partition by symbol order by date rows between " ~ (history - 1) ~ " preceding and current row)" %}

with prices as (
    {{ select_with_lookback(ref('int_prices_resolved'), start, [training + var('stale_price_sessions') + 5, history + 2] | max, 'symbol') }}
),

releases as (
    select
        symbol,
        date,
        max(case when rule = 'return_spike' then released_at end) as spike_released_at,
        max(case when rule = 'stale_price' then released_at end)  as stale_released_at
    from {{ ref('stg_market__quarantine_releases') }}
    group by symbol, date
),

spikes as (
    {{ return_spike_flags('prices', 'close', var('return_spike_robust_z'), training, min_rows) }}
),

scored as (
    select
        *,
        row_number() over (partition by symbol order by date)                                          as series_row,
        {{ trailing_zscore('ln(volume + 1)', 'symbol', 'date', training, min_rows) }}                  as volume_z,
        {{ stale_bar_flag(['open', 'high', 'low', 'close', 'volume'], 'symbol', 'date', var('stale_price_sessions')) }} as is_repeated_bar_with_volume,
        {{ stale_bar_flag(['close', 'volume'], 'symbol', 'date', var('stale_price_sessions')) }} as is_repeated_close_with_volume,
        {{ stale_bar_flag(['open', 'high', 'low', 'close'], 'symbol', 'date', var('stale_price_sessions')) }} as is_repeated_ohlc,
        coalesce(close = lag(close) over (partition by symbol order by date), false)                    as is_unchanged_close,
        lag(close) over (partition by symbol order by date) is not null                                 as has_previous_close,
        lead(close) over (partition by symbol order by date)                                            as next_close,
        lag(close) over (partition by symbol order by date)                                             as previous_close
    from spikes
),

runs as (
    select
        *,
        -- the run of equal closes this bar ends: its first bar is the last one that changed the close
        max(case when not is_unchanged_close then series_row end) {{ rows_frame }}                     as run_first_row,
        max(case when not is_unchanged_close then date end) {{ rows_frame }}                           as run_first_date,
        sum(case when is_unchanged_close then 1 else 0 end) {{ rows_frame }}                            as unchanged_in_history,
        sum(case when has_previous_close then 1 else 0 end) {{ rows_frame }}                            as judged_in_history
    from scored
),

run_lengths as (
    select
        *,
        -- a run longer than the history frame is reported as that long (its first bar is out of sight)
        coalesce(series_row - run_first_row + 1, {{ history }})                                        as run_sessions
    from runs
),

judged as (
    select
        *,
        -- the symbol's own rate of unchanged closes outside this run (Laplace: 1/2 with no history)
        (unchanged_in_history - (run_sessions - 1) + 1)
          / (greatest(judged_in_history - (run_sessions - 1), 0) + 2e0)                                 as unchanged_close_rate,
        case
            when not is_return_spike or is_after_spike then null
            when next_close is null then 'pending'
            when abs(ln(next_close / previous_close)) <= (1 - {{ var('spike_reversal_share') }}) * abs(log_return)
                then 'bad_print'
            else 'genuine_move'
        end                                                                                              as spike_reversal,
        abs(log_return) > ln({{ var('return_implausible_ratio') }})                                     as is_implausible_move,
        {{ split_like_ratio('close / previous_close') }}                                                as split_ratio
    from run_lengths
),

verdicts as (
    select
        *,
        case
            when is_implausible_move then 'implausible'
            when split_ratio is not null and coalesce(spike_reversal, 'genuine_move') <> 'bad_print' then 'split_like'
            else spike_reversal
        end                                                                                              as spike_verdict,
        case
            when volume is not null and price_fields = 'ohlc' then coalesce(is_repeated_bar_with_volume, false)
            when volume is not null then coalesce(is_repeated_close_with_volume, false)
            when price_fields = 'ohlc' then coalesce(is_repeated_ohlc, false)
            else run_sessions >= {{ var('stale_price_sessions') }}
                 and power(unchanged_close_rate, run_sessions - 1) < {{ var('stale_close_alpha') }}
        end                                                                                              as is_stale_price_raw,
        case
            when volume is not null then 'identical_bar_with_volume'
            when price_fields = 'ohlc' then 'identical_ohlc'
            else 'close_run'
        end                                                                                              as stale_basis
    from judged
),

with_releases as (
    select verdicts.*, releases.spike_released_at, releases.stale_released_at
    from verdicts
    left join releases on verdicts.symbol = releases.symbol and verdicts.date = releases.date
),

final as (
    select
        symbol,
        date,
        source,
        open,
        high,
        low,
        close,
        close_unadjusted,
        volume,
        volume_status,
        price_fields,
        log_return,
        judged_return,
        return_spike_z,
        return_trailing_median,
        return_trailing_scale,
        volume_z,
        spike_verdict,
        split_ratio,
        spike_verdict is not null                                                  as is_return_spike,
        coalesce(is_stale_price_raw, false)                                        as is_stale_price,
        stale_basis,
        run_sessions                                                               as stale_run_sessions,
        run_first_date                                                             as stale_run_first_date,
        unchanged_close_rate,
        coalesce(abs(volume_z) > {{ var('volume_anomaly_z') }}, false)             as is_volume_anomaly,
        spike_released_at is not null or stale_released_at is not null             as is_released,
        -- A release changes history: its time joins the watermark incremental runs compare against.
        greatest(loaded_at, coalesce(spike_released_at, loaded_at), coalesce(stale_released_at, loaded_at))
                                                                                   as source_loaded_at,
        coalesce(spike_verdict in ('bad_print', 'implausible') and spike_released_at is null, false)
            or coalesce(is_stale_price_raw and stale_released_at is null, false)   as is_quarantined
    from with_releases
    where date >= {{ start }}
)

select * from final
