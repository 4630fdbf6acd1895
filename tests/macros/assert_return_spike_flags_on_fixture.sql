-- return_spike_flags(): thirty bars alternating +1 % / -1 %, then one bar at three times the price and
-- back. Only the bad print is a spike; the bar that reverts it is judged from the close before it.
with fixture as (
    select 'A' as symbol, d as date, case when d = 31 then 300.0 else 100.0 * (case when d % 2 = 0 then 1.01 else 1.0 end) end as close
    from range(1, 36) as t(d)
),
flagged as (
    {{ return_spike_flags('fixture', 'close', 20, 20, 10, 'symbol', 'date') }}
)
select date, close, return_spike_z, is_return_spike
from flagged
where is_return_spike != (date = 31)
