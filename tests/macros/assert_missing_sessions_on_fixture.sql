-- missing_sessions(): A trades on sessions 1, 2, 4 of a calendar with sessions 1-5 and a holiday:
-- only session 3 is missing (the holiday is not a session, session 5 is after A's last bar).
with calendar as (
    select * from (values
        (date '2024-07-01', true), (date '2024-07-02', true), (date '2024-07-03', true),
        (date '2024-07-04', false), (date '2024-07-05', true), (date '2024-07-08', true)
    ) as t(date, is_trading_day)
),
bars as (
    select * from (values ('A', date '2024-07-01'), ('A', date '2024-07-02'), ('A', date '2024-07-05')) as t(symbol, date)
),
found as (
    {{ missing_sessions('bars', 'calendar') }}
),
expected as (
    select 'A' as symbol, date '2024-07-03' as date
)
select 'unexpected' as problem, * from (select * from found except select * from expected)
union all
select 'not found', * from (select * from expected except select * from found)
