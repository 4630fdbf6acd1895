{% macro pinball_loss(actual, predicted, level) -%}
    {#- Quantile (pinball) loss of a `level` quantile forecast: level * (y - q) if y >= q, else
        (1 - level) * (q - y). Proven by the fct_forecast_evaluation unit test. -#}
    (case when ({{ actual }}) >= ({{ predicted }})
          then {{ level }} * (({{ actual }}) - ({{ predicted }}))
          else (1 - {{ level }}) * (({{ predicted }}) - ({{ actual }})) end)
{%- endmacro %}
