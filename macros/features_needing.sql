{% macro features_needing(fields, mart='fct_daily_features') -%}
    {#- The features of `mart` whose catalogue entry needs any of `fields` (e.g. ['open', 'high', 'low']),
        read from the manifest (column meta.needs, written from dbt_project/feature_catalog.yml): the list
        that says which features a close-only or volume-less symbol cannot have. Empty at parse time. -#}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == mart -%}
            {%- for column in node.columns.values() -%}
                {%- set needs = (column.meta or {}).get('needs') or [] -%}
                {%- if needs | select('in', fields) | list -%}{%- do found.append(column.name) -%}{%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}
