{% macro cast_to_contract(columns, overrides={}) -%}
    {#- The select list of a contracted mart, from its YAML: `cast(<column> as <data_type>) as <column>` for
        every documented column, in the YAML's order, so a column is declared once (in the YAML, which
        `featurecast features sync` writes from dbt_project/feature_catalog.yml) and never listed again in SQL.
        `overrides` maps a column name to the SQL expression to cast instead of the column itself. -#}
    {%- for name, column in columns.items() %}
    cast({{ overrides.get(name, name) }} as {{ column.data_type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
