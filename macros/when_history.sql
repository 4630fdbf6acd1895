{% macro when_history(rows, expr, history_column='history_rows') -%}
    {#- `expr` when the series has at least `rows` rows up to this one, else null: a window feature is
        reported only once its window is full, never from a shorter history. -#}
    (case when {{ history_column }} >= {{ rows }} then {{ expr }} end)
{%- endmacro %}
