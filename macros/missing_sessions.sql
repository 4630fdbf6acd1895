{% macro missing_sessions(relation, calendar, symbol_column='symbol', date_column='date') -%}
    {#- Trading sessions (from `calendar`, a relation with date and is_trading_day) between each
        symbol's first and last row in `relation` that have no row: one row per (symbol, date).

        Only symbols with a gap are searched date by date: a symbol whose rows on sessions number as many
        as the sessions from its first to its last row has none, and counting costs one pass over
        `relation` instead of joining every symbol's whole span of the calendar back to it. A symbol
        whose first or last row falls outside the calendar is always searched. -#}
    with sessions as (
        select
            date,
            is_trading_day,
            sum(case when is_trading_day then 1 else 0 end) over (order by date rows between unbounded preceding and current row)
                as sessions_through
        from {{ calendar }}
    ),
    bounds as (
        select
            r.{{ symbol_column }} as symbol,
            min(r.{{ date_column }}) as first_date,
            max(r.{{ date_column }}) as last_date,
            count(*) filter (where s.is_trading_day) as session_rows
        from {{ relation }} as r
        left join sessions as s on s.date = r.{{ date_column }}
        group by 1
    ),
    gapped as (
        select b.symbol, b.first_date, b.last_date
        from bounds as b
        left join sessions as first_day on first_day.date = b.first_date
        left join sessions as last_day on last_day.date = b.last_date
        where first_day.date is null
           or last_day.date is null
           or b.session_rows < last_day.sessions_through - first_day.sessions_through
                               + case when first_day.is_trading_day then 1 else 0 end
    ),
    expected as (
        select b.symbol, c.date
        from gapped as b
        inner join {{ calendar }} as c on c.date between b.first_date and b.last_date and c.is_trading_day
    )
    select e.symbol, e.date
    from expected as e
    left join {{ relation }} as r on r.{{ symbol_column }} = e.symbol and r.{{ date_column }} = e.date
    where r.{{ date_column }} is null
{%- endmacro %}
