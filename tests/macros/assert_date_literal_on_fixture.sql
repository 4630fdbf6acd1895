-- date_literal(): a scalar subquery comes back as the date literal it evaluates to, far dates included.
select 1 as wrong
where {{ date_literal("(select max(d) from (select date '2024-02-29' as d union all select date '2023-01-01' as d) as t)") }} != date '2024-02-29'
   or {{ date_literal("(select date '0001-01-01')") }} != date '0001-01-01'
   or {{ date_literal("(select date '9999-12-31')") }} != date '9999-12-31'
