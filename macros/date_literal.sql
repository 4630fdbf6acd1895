{% macro date_literal(expression) -%}
    {#- `expression` (a SQL date expression, typically a scalar subquery such as incremental_start_date())
        evaluated now and written into the SQL as a date literal. DuckDB pushes a literal filter down
        through views into the scans below them (past int_prices_resolved's window, into the raw bars); a
        subquery filter is applied only after the whole view is computed, so a nightly run would read
        every bar in history. At parse time (no database) the expression is returned as it is. -#}
    {%- if not execute -%}{{ return(expression) }}{%- endif -%}
    {%- set value = run_query("select cast(" ~ expression ~ " as date)").columns[0].values()[0] -%}
    {%- if value is none -%}{{ return(expression) }}{%- endif -%}
    {{ return("date '" ~ value.isoformat()[:10] ~ "'") }}
{%- endmacro %}
