-- date_spine(): both ends included, leap day present: 2024-02-27 .. 2024-03-01 is four days.
with spine as (
    {{ date_spine('2024-02-27', '2024-03-01') }}
)
select count(*) as days from spine
having count(*) != 4 or count(*) filter (where date_day = date '2024-02-29') != 1
