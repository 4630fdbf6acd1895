{% test symbols_up_to_date(model, calendar, max_sessions_behind=3, symbol_column='symbol', date_column='date') %}
{#- Fails (warns) on symbols whose last bar is more than `max_sessions_behind` trading sessions behind
    the latest bar of any symbol: freshness per symbol, not just for the table. -#}
with last_bars as (
    select {{ symbol_column }} as symbol, max({{ date_column }}) as last_date from {{ model }} group by 1
),
numbered as (
    select l.symbol, l.last_date, c.session_number
    from last_bars l join {{ calendar }} c on c.date = l.last_date
)
select symbol, last_date, (select max(session_number) from numbered) - session_number as sessions_behind
from numbered
where (select max(session_number) from numbered) - session_number > {{ max_sessions_behind }}
{% endtest %}
