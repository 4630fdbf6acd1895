{% macro contract_columns(model_name) -%}
    {#- The columns a model's YAML declares, in order: for a model with an enforced contract, exactly the
        columns it has. A portable alternative to `* exclude (...)`, which Spark and Trino lack. Empty at
        parse time (the graph is not loaded yet; nothing is run then). -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ model_name) -%}
    {%- if node is none or not node.config.contract.enforced -%}
        {{ exceptions.raise_compiler_error("contract_columns: " ~ model_name ~ " is not a model with an enforced contract") }}
    {%- endif -%}
    {{ return(node.columns.keys() | list) }}
{%- endmacro %}
