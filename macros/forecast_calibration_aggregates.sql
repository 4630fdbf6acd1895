{#- The calibration columns of a set of scored forecasts (rows of fct_forecast_evaluation): 5-95 coverage,
    each quantile's hit rate, mean band width and mean scores, rounded to 10 decimals. `over` turns them
    into window aggregates (a window name or spec) for rolling views. -#}
{% macro forecast_calibration_aggregates(over=none) -%}
    {%- set window = (" over " ~ over) if over else "" -%}
    {%- set columns = {
        "coverage_5_95": "case when in_band then 1e0 else 0e0 end",
        "hit_rate_q05": "case when below_q05 then 1e0 else 0e0 end",
        "hit_rate_q50": "case when below_q50 then 1e0 else 0e0 end",
        "hit_rate_q95": "case when below_q95 then 1e0 else 0e0 end",
        "mean_band_width": "band_width",
        "mean_pinball_q05": "pinball_q05",
        "mean_pinball_q50": "pinball_q50",
        "mean_pinball_q95": "pinball_q95",
        "mean_winkler_score": "winkler_score",
        "mean_crps_approx": "crps_approx",
    } -%}
    {%- for name, expression in columns.items() %}
    cast(round(avg({{ expression }}){{ window }}, 10) as double) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
