{% test features_within_range(model, ranges, tolerance=1e-9) %}
{#- Fails on every feature value outside its documented range. `ranges` maps a column to [low, high]
    (null for an unbounded side); `featurecast features sync` writes it from the feature catalogue, so the
    catalogue's ranges are what the build enforces. One query for all columns: a row per offending
    value, naming the feature. `tolerance` absorbs floating-point round-off (a correlation of
    1.0000000000002). -#}
{%- set checks = [] -%}
{%- for column, bounds in ranges.items() -%}
    {%- set low, high = bounds[0], bounds[1] -%}
    {%- set conditions = [] -%}
    {%- if low is not none %}{% do conditions.append(column ~ " < " ~ low ~ " - " ~ tolerance) %}{% endif -%}
    {%- if high is not none %}{% do conditions.append(column ~ " > " ~ high ~ " + " ~ tolerance) %}{% endif -%}
    {%- if conditions -%}
        {%- do checks.append("select '" ~ column ~ "' as feature, cast(" ~ column ~ " as double) as value from "
            ~ model ~ " where " ~ conditions | join(" or ")) -%}
    {%- endif -%}
{%- endfor %}
{%- if checks %}
{{ checks | join("\nunion all\n") }}
{%- else %}
select cast(null as string) as feature, cast(null as double) as value where false
{%- endif %}
{% endtest %}
