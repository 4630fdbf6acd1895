{{ incremental_by_date() }}

-- Forward-looking labels, kept apart from the features. The h-session label of day t is the log
-- return from t's close to the close h trading sessions later (by the exchange calendar, not by row:
-- a gap never stretches the horizon). It is null until that session's clean price exists.
-- An incremental run recomputes the 21 sessions before the first changed date, whose labels the new
-- data may complete.
{%- set horizons = [1, 5, 21] %}
{%- set start = incremental_start_date() %}
{#- A date literal, so the filter reaches the scans below the views (date_literal); a full build starts at the start. -#}
{%- set reopens = config.get('meta', {}).get('reopens_sessions', 21) %}
{%- set label_start = date_literal(sessions_before(start, reopens)) if is_incremental() else start %}

with prices as (
    select symbol, date, session_number, close, source_loaded_at
    from {{ ref('int_prices_cleaned') }}
    where date >= {{ label_start }}
),

sessions as (
    select date, session_number from {{ ref('int_calendar_days_spined') }} where is_trading_day
),

labelled as (
    select
        p.symbol,
        p.date,
        p.close,
        {%- for h in horizons %}
        s{{ h }}.date                                    as label_end_date_{{ h }}d,
        ln(f{{ h }}.close / p.close)                     as fwd_ret_{{ h }}d,
        {%- endfor %}
        p.source_loaded_at
    from prices as p
    {%- for h in horizons %}
    left join sessions as s{{ h }} on s{{ h }}.session_number = p.session_number + {{ h }}
    left join prices as f{{ h }} on f{{ h }}.symbol = p.symbol and f{{ h }}.session_number = p.session_number + {{ h }}
    {%- endfor %}
)

select
    cast(symbol as string)                 as symbol,
    cast(date as date)                      as date,
    cast(close as double)                   as close,
    {%- for h in horizons %}
    cast(fwd_ret_{{ h }}d as double)        as fwd_ret_{{ h }}d,
    cast(case when fwd_ret_{{ h }}d is not null then (case when fwd_ret_{{ h }}d > 0 then 1 else 0 end) end as integer)
                                            as direction_{{ h }}d,
    cast(label_end_date_{{ h }}d as date)   as label_end_date_{{ h }}d,
    {%- endfor %}
    cast(source_loaded_at as timestamp)     as source_loaded_at
from labelled
