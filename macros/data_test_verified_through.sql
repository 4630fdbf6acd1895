{% macro data_test_verified_through(test_id) -%}
    {#- The newest market input the data test `test_id` verified at its last pass
        (audit.data_test_watermarks), as a SQL timestamp literal; none when it has no record (never
        passed, the table does not exist yet, or a row edited by hand lost its timestamp). The whole
        table is read once per run (run_cache), not once per test. -#}
    {%- set cache = run_cache() -%}
    {%- if 'verified_through' not in cache -%}
        {%- set recorded = {} -%}
        {%- set watermarks = data_test_watermarks() -%}
        {%- if adapter.get_relation(watermarks.database, watermarks.schema, watermarks.identifier) is not none -%}
            {#- A row without a timestamp (edited by hand) counts as no record: that test reads everything. -#}
            {%- for row in run_query(
                "select test_id, cast(verified_through as string) from " ~ watermarks
                ~ " where verified_through is not null"
            ) -%}
                {%- do recorded.update({row[0]: "timestamp '" ~ row[1] ~ "'"}) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- do cache.update({'verified_through': recorded}) -%}
    {%- endif -%}
    {{ return(cache['verified_through'].get(test_id)) }}
{%- endmacro %}
