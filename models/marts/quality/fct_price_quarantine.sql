-- Every guardrail finding, one row per (symbol, date, rule): which rule fired on which bar, what was
-- observed and the range that was expected, and what happened to the bar. Rules that exclude the
-- price (return_spike, stale_price, non_trading_day) keep it out of every feature unless an operator
-- released it after review (`featurecast release`, action 'released'); the others (volume_anomaly,
-- missing_session) are recorded for review.
with checked as (
    select * from {{ ref('int_prices_checked') }}
),

releases as (
    select * from {{ ref('stg_market__quarantine_releases') }}
),

calendar as (
    select * from {{ ref('int_calendar_days_spined') }}
),

-- int_prices_checked holds the same (symbol, date) rows as int_prices_resolved, as a table: reading it
-- here does not recompute the source resolution over all of history.
missing as (
    {{ missing_sessions(ref('int_prices_checked'), ref('int_calendar_days_spined')) }}
),

-- A return spike is a bad print (reversed by the next bar) or an implausible move: excluded. A genuine
-- move (not reversed), a possible unadjusted split and a spike awaiting its next bar stay in the
-- features and are recorded as warnings (docs/guardrails.md).
return_spikes as (
    select
        symbol, date, 'return_spike' as rule,
        case when spike_verdict in ('bad_print', 'implausible') then 'excluded_from_features' else 'recorded' end as action,
        return_spike_z as observed_value, {{ var('return_spike_robust_z') }} as threshold,
        return_trailing_median - {{ var('return_spike_robust_z') }} * return_trailing_scale as expected_low,
        return_trailing_median + {{ var('return_spike_robust_z') }} * return_trailing_scale as expected_high,
        'log return ' || cast(round(log_return, 4) as string)
            || coalesce(' is ' || cast(round(abs(return_spike_z), 1) as string) || ' robust sd from its trailing median over '
                        || '{{ var("guardrail_training_rows") }} sessions (threshold {{ var("return_spike_robust_z") }})', '')
            || case spike_verdict
                when 'bad_print' then '; the next bar took it back: a bad print'
                when 'genuine_move' then '; the next bar did not take it back: a genuine move, kept'
                when 'pending' then '; kept until the next bar shows whether it reverses'
                when 'implausible' then '; the price moved more than {{ var("return_implausible_ratio") }}x in one session: implausible'
                when 'split_like' then '; the price ratio ' || cast(round(exp(log_return), 4) as string)
                    || ' matches a ' || case when split_ratio < 1 then cast(round(1 / split_ratio, 2) as string) || ':1 split'
                                             else '1:' || cast(round(split_ratio, 2) as string) || ' reverse split' end
                    || ' left unadjusted; import adjusted closes (adj close) or release it if it was a real move'
               end as details
    from checked
    where is_return_spike
),

stale_prices as (
    select
        symbol, date, 'stale_price' as rule, 'excluded_from_features' as action,
        close as observed_value, {{ var('stale_price_sessions') }} as threshold,
        null as expected_low, null as expected_high,
        case stale_basis
            when 'identical_bar_with_volume' then 'bar (every price it gives, and its volume) repeated for at least {{ var("stale_price_sessions") }} sessions; '
            when 'identical_ohlc' then 'bar (open, high, low and close; no volume reported) repeated for at least {{ var("stale_price_sessions") }} sessions; '
            else ''
        end
            || 'close ' || cast(close as string) || ' unchanged for ' || cast(stale_run_sessions as string) || ' sessions'
            || coalesce(' since ' || cast(stale_run_first_date as string), ' or more')
            || case when stale_basis = 'close_run'
                    then ' (the symbol leaves its close unchanged on '
                         || cast(round(100 * unchanged_close_rate, 1) as string) || '% of sessions: a run this long has '
                         || 'probability below {{ var("stale_close_alpha") }})'
                    else ''
               end as details
    from checked
    where is_stale_price
),

volume_anomalies as (
    select
        symbol, date, 'volume_anomaly' as rule, 'recorded' as action,
        volume_z as observed_value, {{ var('volume_anomaly_z') }} as threshold,
        -{{ var('volume_anomaly_z') }} as expected_low, {{ var('volume_anomaly_z') }} as expected_high,
        'log volume is ' || cast(round(volume_z, 1) as string) || ' sd from its trailing mean over '
            || '{{ var("guardrail_training_rows") }} sessions (threshold {{ var("volume_anomaly_z") }})' as details
    from checked
    where is_volume_anomaly
),

non_trading_days as (
    select
        checked.symbol, checked.date, 'non_trading_day' as rule, 'excluded_from_features' as action,
        null as observed_value, null as threshold, null as expected_low, null as expected_high,
        'bar dated on a day the exchange was closed'
            || coalesce(' (' || calendar.holiday_name || ')', '') as details
    from checked
    inner join calendar on checked.date = calendar.date
    where not calendar.is_trading_day
),

missing_sessions as (
    select
        symbol, date, 'missing_session' as rule, 'recorded' as action,
        null as observed_value, null as threshold, null as expected_low, null as expected_high,
        -- chr(39) is the apostrophe: Spark reads '' inside a literal as two literals, not a quote.
        'no bar for a trading session between the symbol' || chr(39) || 's first and last bar' as details
    from missing
),

unioned as (
    select * from return_spikes
    union all select * from stale_prices
    union all select * from volume_anomalies
    union all select * from non_trading_days
    union all select * from missing_sessions
)

select
    cast(unioned.symbol as string)  as symbol,
    cast(unioned.date as date)       as date,
    cast(unioned.rule as string)    as rule,
    cast(case when releases.rule is not null then 'released' else unioned.action end as string) as action,
    cast(unioned.observed_value as double)   as observed_value,
    cast(unioned.threshold as double)        as threshold,
    cast(unioned.expected_low as double)     as expected_low,
    cast(unioned.expected_high as double)    as expected_high,
    cast(unioned.details || coalesce('; released by ' || releases.released_by || ': ' || releases.reason, '')
         as string)                 as details
from unioned
left join releases
  on unioned.symbol = releases.symbol and unioned.date = releases.date and unioned.rule = releases.rule
