{% macro data_test_scope(test_id) -%}
    {#- The model a data test may check on changed dates only, or none when the test must read the whole
        table. A test qualifies when its verdict on a date depends on that date's rows alone (its kind is
        in var('date_local_tests'); a uniqueness test only if `date` is in its key) and the model it is
        attached to has a `date` column, changes only when market inputs change (stg_market__daily_ohlcv
        is upstream, no stg_ml__ model is), and is a view or records the inputs it has seen
        (source_loaded_at), so its watermark says what a passing test has verified. -#}
    {%- set test = graph.nodes.get(test_id) -%}
    {%- if test is none or not test.get('test_metadata') or not test.get('attached_node') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set kind = test.test_metadata.name -%}
    {%- if kind not in var('date_local_tests') -%}{{ return(none) }}{%- endif -%}
    {%- set kwargs = test.test_metadata.kwargs -%}
    {%- if kind == 'unique_combination_of_columns' and 'date' not in kwargs.get('combination_of_columns', []) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if kind == 'unique' and kwargs.get('column_name') != 'date' -%}{{ return(none) }}{%- endif -%}
    {%- set node = graph.nodes.get(test.attached_node) -%}
    {%- if node is none or node.resource_type != 'model' or 'date' not in node.columns -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if node.config.materialized != 'view' and 'source_loaded_at' not in node.columns -%}
        {{ return(none) }}
    {%- endif -%}
    {#- Every model upstream of it (breadth first over depends_on; the DAG is a few levels deep). -#}
    {%- set upstream = [node.unique_id] -%}
    {%- for id in upstream -%}
        {%- for parent in graph.nodes[id].depends_on.nodes if parent.startswith('model.') and parent not in upstream -%}
            {%- do upstream.append(parent) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set names = upstream | map('replace', 'model.' ~ project_name ~ '.', '') | list -%}
    {%- if 'stg_market__daily_ohlcv' not in names -%}{{ return(none) }}{%- endif -%}
    {%- for name in names if name.startswith('stg_ml__') -%}{{ return(none) }}{%- endfor -%}
    {{ return(node) }}
{%- endmacro %}
