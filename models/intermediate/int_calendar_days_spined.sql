with days as (
    {{ date_spine(var('calendar_start'), var('calendar_end')) }}
),

holidays as (
    select * from {{ ref('market_holidays') }}
),

flagged as (
    select
        days.date_day                                          as date,
        extract(isodow from days.date_day) >= 6                as is_weekend,
        holidays.holiday_name,
        extract(isodow from days.date_day) < 6
            and holidays.holiday_date is null                  as is_trading_day
    from days
    left join holidays on holidays.holiday_date = days.date_day
),

numbered as (
    select
        *,
        -- Sessions so far; a closed day carries the number of the last session before it.
        sum(case when is_trading_day then 1 else 0 end) over (order by date rows between unbounded preceding and current row)
            as session_number
    from flagged
)

select * from numbered
