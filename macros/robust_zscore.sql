{% macro robust_zscore(expr, partition_by, order_by, training_rows, min_rows) -%}
    {#- Robust z-score of `expr` against the trailing `training_rows` rows before it (never the row
        itself or anything after it): (x - median) / (IQR / 1.349). Null with fewer than `min_rows`
        rows of history or a zero spread. -#}
    {%- set window = "partition by " ~ partition_by ~ " order by " ~ order_by
        ~ " rows between " ~ training_rows ~ " preceding and 1 preceding" -%}
    (case when count({{ expr }}) over ({{ window }}) >= {{ min_rows }}
          then ({{ expr }} - {{ rolling_quantile(expr, 0.5, window) }})
             / nullif(({{ rolling_quantile(expr, 0.75, window) }} - {{ rolling_quantile(expr, 0.25, window) }}) / 1.349, 0)
     end)
{%- endmacro %}
