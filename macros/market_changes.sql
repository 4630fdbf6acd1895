{% macro market_changes(bars, releases, declarations) -%}
    {#- Every change to the market inputs as (date, changed_at) rows: raw bars loaded, quarantine releases
        made, and symbol declarations (which change every bar of the symbol). The one definition of "what
        changed" that incremental models (what to rebuild) and scoped data tests (what to check) share. -#}
    (
        select date, loaded_at as changed_at from {{ bars }}
        union all
        select date, released_at from {{ releases }}
        union all
        select bars.date, declared.declared_at
        from {{ declarations }} as declared
        inner join {{ bars }} as bars on declared.symbol = bars.symbol
    )
{%- endmacro %}
