-- ema(): with alpha = 0.5 (q = 0.5) the normalised weights are q ** (sessions back). Rows at sessions
-- 1, 2 and 4 (session 3 missing) give, at session 4: (8 + 0.25 * 4 + 0.125 * 2) / (1 + 0.25 + 0.125).
with fixture as (
    select * from (values ('A', 1, 2.0), ('A', 2, 4.0), ('A', 4, 8.0), ('B', 1, 5.0)) as t(p, s, x)
),
computed as (
    select p, s, {{ ema('x', 0.5, 'p', 's') }} as ema from fixture
),
expected as (
    select * from (values
        ('A', 1, 2.0),
        ('A', 2, (4.0 + 0.5 * 2.0) / 1.5),
        ('A', 4, (8.0 + 0.25 * 4.0 + 0.125 * 2.0) / (1 + 0.25 + 0.125)),
        ('B', 1, 5.0)
    ) as t(p, s, ema)
)
select computed.*, expected.ema as expected_ema
from computed join expected using (p, s)
where abs(computed.ema - expected.ema) > 1e-12
