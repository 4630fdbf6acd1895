{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
    {#- dbt's persist_docs on DuckDB, writing only the comments the warehouse does not already hold.
        dbt re-writes the relation's comment and every column's after each build, also when an
        incremental run inserted one day into a table whose comments are all current: 67 statements
        for fct_daily_features every night, plus two column listings. This reads the relation's
        comments once (duckdb_tables / duckdb_views / duckdb_columns) and hands dbt-duckdb's own
        alter_relation_comment and alter_column_comment the differing ones. A rebuilt table (no
        comments yet) gets them all, as before. A documented column the relation lacks is skipped
        without dbt's warning (the marts' contracts fail the build on a missing column). -#}
    {%- set wants_relation = for_relation and config.persist_relation_docs() and model.description -%}
    {%- set wants_columns = for_columns and config.persist_column_docs() and model.columns -%}
    {%- if not (wants_relation or wants_columns) or not execute -%}{{ return('') }}{%- endif -%}
    {%- set catalog = relation.database | replace("'", "''") -%}
    {%- set schema = relation.schema | replace("'", "''") -%}
    {%- set name = relation.identifier | replace("'", "''") -%}
    {%- set existing -%}
        select null as column_name, coalesce(comment, '') as comment from duckdb_tables()
        where database_name = '{{ catalog }}' and schema_name = '{{ schema }}' and table_name = '{{ name }}'
        union all
        select null, coalesce(comment, '') from duckdb_views()
        where database_name = '{{ catalog }}' and schema_name = '{{ schema }}' and view_name = '{{ name }}'
        union all
        select lower(column_name), coalesce(comment, '') from duckdb_columns()
        where database_name = '{{ catalog }}' and schema_name = '{{ schema }}' and table_name = '{{ name }}'
    {%- endset -%}
    {%- set relation_comment = namespace(value=none) -%}
    {%- set column_comments = {} -%}
    {%- for row in run_query(existing) -%}
        {%- if row[0] is none -%}
            {%- set relation_comment.value = row[1] -%}
        {%- else -%}
            {%- do column_comments.update({row[0]: row[1]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if wants_relation and relation_comment.value != model.description -%}
        {%- do run_query(alter_relation_comment(relation, model.description)) -%}
    {%- endif -%}
    {%- if wants_columns -%}
        {%- set stale = {} -%}
        {%- for column_name, column in model.columns.items() -%}
            {%- set key = column_name | lower -%}
            {%- if key in column_comments and column_comments[key] != (column.description or '') -%}
                {%- do stale.update({column_name: column}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if stale -%}
            {%- do run_query(alter_column_comment(relation, stale)) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
