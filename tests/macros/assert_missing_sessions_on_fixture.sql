-- missing_sessions(): on a calendar with sessions 1-5 and a holiday (2024-07-04):
--   A trades on sessions 1, 2, 4: only session 3 is missing (the holiday is not a session, session 5 is
--     after A's last bar);
--   B trades on sessions 2, 3, 4 and has a bar on the holiday: none missing (a non-session bar does not
--     stand in for a session, nor does it make one missing);
--   C starts on the holiday and trades on session 5: session 4 is missing (a span that opens on a
--     closed day);
--   D starts before the calendar and trades on session 1: none missing (searched date by date);
--   E trades on every session: none missing.
with calendar as (
    select * from (values
        (date '2024-07-01', true), (date '2024-07-02', true), (date '2024-07-03', true),
        (date '2024-07-04', false), (date '2024-07-05', true), (date '2024-07-08', true)
    ) as t(date, is_trading_day)
),
bars as (
    select * from (values
        ('A', date '2024-07-01'), ('A', date '2024-07-02'), ('A', date '2024-07-05'),
        ('B', date '2024-07-02'), ('B', date '2024-07-03'), ('B', date '2024-07-04'), ('B', date '2024-07-05'),
        ('C', date '2024-07-04'), ('C', date '2024-07-08'),
        ('D', date '2024-06-28'), ('D', date '2024-07-01'),
        ('E', date '2024-07-01'), ('E', date '2024-07-02'), ('E', date '2024-07-03'), ('E', date '2024-07-05'),
        ('E', date '2024-07-08')
    ) as t(symbol, date)
),
found as (
    {{ missing_sessions('bars', 'calendar') }}
),
expected as (
    select * from (values ('A', date '2024-07-03'), ('C', date '2024-07-05')) as t(symbol, date)
)
select 'unexpected' as problem, * from (select * from found except select * from expected)
union all
select 'not found', * from (select * from expected except select * from found)
