-- stale_bar_flag(): with sessions = 3 a bar is flagged from its third identical row on; a close that
-- repeats while the high moves (a rounded, busy low-priced stock) is never flagged.
with fixture as (
    select * from (values
        (1, 1.0, 1.1, false), (2, 1.0, 1.1, false), (3, 1.0, 1.1, true), (4, 2.0, 2.1, false),
        (5, 2.0, 2.1, false), (6, 2.0, 2.1, true), (7, 2.0, 2.1, true), (8, 3.0, 3.1, false),
        (9, 3.0, 3.2, false), (10, 3.0, 3.3, false), (11, 3.0, 3.2, false)
    ) as t(d, price, high, expected)
),
computed as (
    select d, expected, {{ stale_bar_flag(['price', 'high'], "'k'", 'd', 3) }} as flagged from fixture
)
select * from computed where flagged is distinct from expected
