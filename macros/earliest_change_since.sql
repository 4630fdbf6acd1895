{% macro earliest_change_since(watermark, bars, releases, declarations) -%}
    {#- The earliest session among market_changes after `watermark` (a SQL timestamp expression);
        date '9999-12-31' when nothing changed. -#}
    (select coalesce(min(changes.date), date '9999-12-31')
     from {{ market_changes(bars, releases, declarations) }} as changes
     where changes.changed_at > {{ watermark }})
{%- endmacro %}
