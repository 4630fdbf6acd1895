{% macro run_cache() -%}
    {#- A dict that lives for one dbt invocation and is shared by all its nodes: what every data test of a
        run would otherwise look up again (macros/data_test_verified_through.sql, get_where_subquery).
        dbt gives each node a fresh Jinja context; the one object they all share is `graph`, the
        manifest's flat graph, built once per invocation. The cache hangs off it under this
        invocation's id, so nothing carries over to another run. Only values that cannot change while
        the run lasts belong here (the build writes no market input and no watermark before its
        on-run-end hook). Should a dbt version stop sharing `graph`, every lookup simply runs again. -#}
    {%- set runs = graph.setdefault('featurecast_run_cache', {}) -%}
    {{ return(runs.setdefault(invocation_id, {})) }}
{%- endmacro %}
