-- robust_zscore(): history 1..5 has median 3 and IQR 4 - 2 = 2, so 10 scores (10 - 3) / (2 / 1.349);
-- rows with fewer than 5 rows of history score null; the row itself never enters its own window.
with fixture as (
    select * from (values (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0), (6, 10.0)) as t(d, x)
),
computed as (
    select d, {{ robust_zscore('x', "'k'", 'd', 5, 5) }} as z from fixture
)
select * from computed
where (d < 6 and z is not null)
   or (d = 6 and abs(z - 7 * 1.349 / 2) > 1e-12)
