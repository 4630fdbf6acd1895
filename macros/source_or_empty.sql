{#- The rows of a source table the Python side creates, or, until it exists, an empty result with the
    same columns and types, so models downstream build on a fresh warehouse. `columns` maps each column
    name to its SQL type. The calling model keeps a `-- depends_on: {{ source(...) }}` line for lineage.
    The branch is chosen when the view is built. dbt_project.runner.build recreates the views whenever
    the set of the Python side's tables changed since the stage last built them (python_side_tables),
    so a view never stays empty once its table exists. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = adapter.get_relation(database=target.database, schema=source_name, identifier=table_name) if execute else none -%}
    {%- if relation is not none -%}
    select * from {{ source(source_name, table_name) }}
    {%- else -%}
    select
        {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    where false
    {%- endif -%}
{%- endmacro %}
