-- Every calendar day of the supported span with the NYSE session flag and a running session number.
-- Monday to Friday are sessions unless the calendar seed (written from pandas_market_calendars) says
-- otherwise: weekday closures and weekend sessions (Saturdays until 1952). An operator's reviewed
-- release of a `non_trading_day` finding opens that day for every symbol (the calendar was wrong).
with days as (
    {{ date_spine(var('calendar_start'), var('calendar_end')) }}
),

exceptions as (
    select * from {{ ref('market_calendar_exceptions') }}
),

opened_by_release as (
    select distinct date
    from {{ ref('stg_market__quarantine_releases') }}
    where rule = 'non_trading_day'
),

flagged as (
    select
        days.date_day                                          as date,
        {{ iso_day_of_week('days.date_day') }} >= 6                as is_weekend,
        case when not exceptions.is_session then exceptions.description end as holiday_name,
        opened_by_release.date is not null                     as is_opened_by_release,
        opened_by_release.date is not null
            or coalesce(exceptions.is_session, {{ iso_day_of_week('days.date_day') }} < 6) as is_trading_day
    from days
    left join exceptions on days.date_day = exceptions.calendar_date
    left join opened_by_release on days.date_day = opened_by_release.date
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
