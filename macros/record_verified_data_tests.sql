{% macro record_verified_data_tests(results) -%}
    {{ return(adapter.dispatch('record_verified_data_tests', 'featurecast')(results)) }}
{%- endmacro %}

{% macro spark__record_verified_data_tests(results) -%}
    {#- Spark's plain parquet tables cannot delete rows: nothing is recorded, so every data test reads
        whole tables there (what a cluster is for). -#}
    {{ return('') }}
{%- endmacro %}

{% macro default__record_verified_data_tests(results) -%}
    {#- on-run-end: for every scoped data test (data_test_scope) that passed or warned in this run, record
        the newest market input it has now verified: the model's max(source_loaded_at), or for a view the
        newest change to the market inputs. The next run's get_where_subquery checks only dates changed
        after it. A failing or erroring test records nothing, so its next run re-checks the same dates. -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set verified = [] -%}
    {%- for result in results if result.node.resource_type == 'test' and result.status in ('pass', 'warn') -%}
        {%- set node = data_test_scope(result.node.unique_id) -%}
        {%- if node is not none -%}{%- do verified.append((result.node.unique_id, node)) -%}{%- endif -%}
    {%- endfor -%}
    {%- set inputs = market_staging_relations() if verified else none -%}
    {%- if inputs is none -%}{{ return('') }}{%- endif -%}
    {%- set watermarks = data_test_watermarks() -%}
    {%- set rows = [] -%}
    {%- for test_id, node in verified -%}
        {%- if node.config.materialized == 'view' -%}
            {%- set newest = "(select max(changes.changed_at) from " ~ market_changes(inputs[0], inputs[1], inputs[2]) ~ " as changes)" -%}
        {%- else -%}
            {%- set newest = "(select max(source_loaded_at) from " ~ node.relation_name ~ ")" -%}
        {%- endif -%}
        {%- do rows.append("select '" ~ test_id ~ "' as test_id, cast(" ~ newest ~ " as timestamp) as verified_through") -%}
    {%- endfor -%}
    {%- do run_query("create schema if not exists " ~ watermarks.schema) -%}
    {%- do run_query(
        "create table if not exists " ~ watermarks
        ~ " (test_id string not null, verified_through timestamp, verified_at timestamp not null)"
    ) -%}
    {%- do run_query(
        "delete from " ~ watermarks ~ " where test_id in ('" ~ verified | map(attribute=0) | join("', '") ~ "')"
    ) -%}
    {%- do run_query(
        "insert into " ~ watermarks ~ " select test_id, verified_through, current_timestamp from ("
        ~ rows | join(' union all ') ~ ") as verified where verified_through is not null"
    ) -%}
    {{ return('') }}
{%- endmacro %}
