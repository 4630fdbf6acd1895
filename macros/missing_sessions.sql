{% macro missing_sessions(relation, calendar, symbol_column='symbol', date_column='date') -%}
    {#- Trading sessions (from `calendar`, a relation with date and is_trading_day) between each
        symbol's first and last row in `relation` that have no row: one row per (symbol, date). -#}
    with bounds as (
        select {{ symbol_column }} as symbol, min({{ date_column }}) as first_date, max({{ date_column }}) as last_date
        from {{ relation }}
        group by 1
    ),
    expected as (
        select b.symbol, c.date
        from bounds b
        join {{ calendar }} c on c.date between b.first_date and b.last_date and c.is_trading_day
    )
    select e.symbol, e.date
    from expected e
    left join {{ relation }} r on r.{{ symbol_column }} = e.symbol and r.{{ date_column }} = e.date
    where r.{{ date_column }} is null
{%- endmacro %}
