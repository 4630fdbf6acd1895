-- session_of_max(): the high of 5 repeats at sessions 1 and 2; the window of three rows ending at 3
-- must name session 2 (the latest), and at 4 (a new equal high) session 4.
with fixture as (
    select * from (values (1, 5), (2, 5), (3, 4), (4, 5)) as t(s, c)
),

computed as (
    select s, {{ session_of_max('c', 's', 'over (order by s rows between 2 preceding and current row)') }} as at_max
    from fixture
),

expected as (
    select * from (values (1, 1), (2, 2), (3, 2), (4, 4)) as t(s, at_max)
)

select expected.s, expected.at_max, computed.at_max as computed_at_max
from expected
left join computed on expected.s = computed.s
where computed.at_max is null or computed.at_max <> expected.at_max
