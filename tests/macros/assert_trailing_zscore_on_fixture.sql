-- trailing_zscore(): history 1..5 has mean 3 and sample sd sqrt(2.5), so 10 scores 7 / sqrt(2.5).
with fixture as (
    select * from (values (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0), (6, 10.0)) as t(d, x)
),
computed as (
    select d, {{ trailing_zscore('x', "'k'", 'd', 5, 5) }} as z from fixture
)
select * from computed
where (d < 6 and z is not null)
   or (d = 6 and abs(z - 7 / sqrt(2.5)) > 1e-12)
