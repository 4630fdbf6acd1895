with days as (
    select * from {{ ref('int_calendar_days_spined') }}
)

select
    cast(date as date)                   as date,
    cast(is_trading_day as boolean)      as is_trading_day,
    cast(is_weekend as boolean)          as is_weekend,
    cast(holiday_name as string)        as holiday_name,
    cast(session_number as bigint)       as session_number,
    cast(extract(year from date) as integer)  as year,
    cast(extract(month from date) as integer) as month
from days
