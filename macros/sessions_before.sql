{% macro sessions_before(date_expr, sessions, calendar=none) -%}
    {#- The trading session `sessions` sessions before `date_expr` (by dim calendar), as a scalar
        subquery; used to widen an incremental window backwards for forward-looking labels. `calendar`
        defaults to ref('int_calendar_days_spined'); code outside a model passes the relation by name. -#}
    (select coalesce(min(date), date '0001-01-01') from (
        select date from {{ calendar if calendar is not none else ref('int_calendar_days_spined') }}
        where is_trading_day and date < {{ date_expr }}
        order by date desc
        limit {{ sessions }}
    ) as previous_sessions)
{%- endmacro %}
