-- cast_to_contract(): every documented column cast to its declared type, in the declared order (read
-- back by position), with overrides applied.
{%- set columns = {"n": {"data_type": "integer"}, "label": {"data_type": "string"}, "x": {"data_type": "double"}} %}
with fixture as (
    select '7' as n, 'ignored' as label, 1 as x
),

by_position as (
    select * from (select {{ cast_to_contract(columns, overrides={"label": "'fixed'"}) }} from fixture) as t(a, b, c)
)

select * from by_position
where not (a = 7 and lower(typeof(a)) in ('integer', 'int') and b = 'fixed' and lower(typeof(c)) = 'double' and c = 1.0)
