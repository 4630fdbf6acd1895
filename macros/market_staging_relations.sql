{% macro market_staging_relations() -%}
    {#- The relations market_changes reads (bars, releases, declarations), named from the graph rather
        than by ref(), for data tests and hooks, which must not add dependencies. None when any of them
        is not built yet (a first build that selected only some models): then nothing is scoped or
        recorded. -#}
    {%- set names = [] -%}
    {%- for model_name in ['stg_market__daily_ohlcv', 'stg_market__quarantine_releases', 'stg_market__symbol_properties'] -%}
        {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ model_name] -%}
        {%- if adapter.get_relation(node.database, node.schema, node.alias) is none -%}{{ return(none) }}{%- endif -%}
        {%- do names.append(node.relation_name) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}
