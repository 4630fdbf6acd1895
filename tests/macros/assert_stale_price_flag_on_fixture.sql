-- stale_price_flag(): with sessions = 3 a price is flagged from its third identical row on.
with fixture as (
    select * from (values
        (1, 1.0, false), (2, 1.0, false), (3, 1.0, true), (4, 2.0, false),
        (5, 2.0, false), (6, 2.0, true), (7, 2.0, true), (8, 3.0, false)
    ) as t(d, price, expected)
),
computed as (
    select d, expected, {{ stale_price_flag('price', "'k'", 'd', 3) }} as flagged from fixture
)
select * from computed where flagged is distinct from expected
