{% macro register_lake_tables(lake, tables) -%}
    {#- run-operation for the `spark` target: declare each exported source table (featurecast/lake.py
        wrote `<lake>/<schema>/<table>/`) as an external parquet table `<schema>.<table>`, replacing any
        earlier declaration. The data stays in the lake; dropping the declaration deletes nothing. -#}
    {%- for name in tables -%}
        {%- set schema, table = name.split('.') -%}
        {%- do run_query("create database if not exists " ~ schema) -%}
        {%- do run_query("drop table if exists " ~ schema ~ "." ~ table) -%}
        {%- do run_query(
            "create table " ~ schema ~ "." ~ table ~ " using parquet location '" ~ lake ~ "/" ~ schema ~ "/" ~ table ~ "'"
        ) -%}
    {%- endfor -%}
    {{ log("registered " ~ tables | length ~ " lake tables", info=False) }}
{%- endmacro %}
