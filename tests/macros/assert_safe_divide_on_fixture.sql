-- safe_divide(): division by zero or null gives null, otherwise the quotient.
with fixture as (
    select * from (values (6.0, 3.0, 2.0), (1.0, 0.0, null), (1.0, null, null)) as t(n, d, expected)
)
select * from fixture where {{ safe_divide('n', 'd') }} is distinct from expected
