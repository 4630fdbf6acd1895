{% macro data_test_watermarks() -%}
    {#- Where each scoped data test's last pass is recorded: audit.data_test_watermarks (test_id, the
        newest market input it verified, when). Written by record_verified_data_tests after a run. -#}
    {{ return(api.Relation.create(database=target.get('database'), schema='audit', identifier='data_test_watermarks')) }}
{%- endmacro %}
