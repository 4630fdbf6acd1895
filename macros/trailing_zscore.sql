{% macro trailing_zscore(expr, partition_by, order_by, training_rows, min_rows) -%}
    {#- Classic z-score of `expr` against the mean and sample standard deviation of the trailing
        `training_rows` rows before it (Elementary-style: a training window, then the detection row).
        Null with fewer than `min_rows` rows of history or zero deviation. -#}
    {%- set window = "over (partition by " ~ partition_by ~ " order by " ~ order_by
        ~ " rows between " ~ training_rows ~ " preceding and 1 preceding)" -%}
    (case when count({{ expr }}) {{ window }} >= {{ min_rows }}
          then ({{ expr }} - avg({{ expr }}) {{ window }}) / nullif(stddev_samp({{ expr }}) {{ window }}, 0)
     end)
{%- endmacro %}
