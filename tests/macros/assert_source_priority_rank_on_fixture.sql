-- source_priority_rank(): ranks follow var('source_priority'); unknown providers rank last.
with fixture as (
    select * from (values ('csv', 1), ('alphavantage', 2), ('synthetic', 3), ('someone_else', 4)) as t(source, expected)
)
select * from fixture where {{ source_priority_rank('source') }} != expected
