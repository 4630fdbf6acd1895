{% macro split_like_ratio(ratio_expr, ratios=[2, 3, 4, 5, 10, 1.5, 0.5, 1.0 / 3.0, 0.25, 0.2, 0.1, 2.0 / 3.0], tolerance=0.005) -%}
    {#- The common split ratio (2:1, 3:1, ..., 1:2, 2:3) that the price ratio `ratio_expr` (close over the
        previous close) matches within `tolerance` in log terms, or null: a move of exactly a third in a
        session is more likely an unadjusted 3:1 split than a crash. -#}
    (case
        {%- for ratio in ratios %}
        when abs(ln({{ ratio_expr }}) - ln({{ ratio }})) < {{ tolerance }} then {{ ratio }}
        {%- endfor %}
    end)
{%- endmacro %}
