-- ema_query(): with alpha = 0.5 (q = 0.5) the normalised weights are q ** (sessions back). Rows at
-- sessions 1, 2 and 4 (session 3 missing) give, at session 4: (8 + 0.25 * 4 + 0.125 * 2) / 1.375.
-- Rows 40 sessions apart (two blocks of 20) no longer see each other: the weight fell below 1e-6.
with fixture as (
    -- Double literals (e-notation): 2.0 is a decimal, whose arithmetic Spark rounds to 6 places.
    select p, s, cast(x as double) as x
    from (values ('A', 1, 2.0), ('A', 2, 4.0), ('A', 4, 8.0), ('B', 1, 5.0), ('B', 41, 7.0)) as t(p, s, x)
),
computed as (
    {{ ema_query('fixture', [('ema', 'x', 0.5)], 'p', 's') }}
),
expected as (
    select * from (values
        ('A', 1, 2e0),
        ('A', 2, (4e0 + 5e-1 * 2e0) / 1.5e0),
        ('A', 4, (8e0 + 2.5e-1 * 4e0 + 1.25e-1 * 2e0) / (1e0 + 2.5e-1 + 1.25e-1)),
        ('B', 1, 5e0),
        ('B', 41, 7e0)
    ) as t(p, s, ema)
)
select expected.*, computed.ema as computed_ema
from expected left join computed using (p, s)
where computed.ema is null or abs(computed.ema - expected.ema) > 1e-12
