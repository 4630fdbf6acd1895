{% macro session_of_max(value, session, over) -%}
    {#- The latest `session` in the window clause `over` at which `value` is at its window maximum. The
        session breaks ties (real prices repeat: a close can equal the high twice in 63 sessions); without
        it, which of the tied rows max_by returns is up to the engine. Dispatched: a row value in DuckDB,
        struct() in Spark. -#}
    {{ return(adapter.dispatch('session_of_max', 'featurecast')(value, session, over)) }}
{%- endmacro %}

{% macro default__session_of_max(value, session, over) -%}
    max_by({{ session }}, ({{ value }}, {{ session }})) {{ over }}
{%- endmacro %}

{% macro spark__session_of_max(value, session, over) -%}
    max_by({{ session }}, struct({{ value }}, {{ session }})) {{ over }}
{%- endmacro %}
