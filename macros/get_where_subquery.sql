{% macro get_where_subquery(relation) -%}
    {#- dbt wraps the model every generic data test reads in this macro (its `where` config). On top of
        `where`, a test that data_test_scope() allows and that has passed before reads only the dates whose
        market inputs changed since the inputs its last pass verified (audit.data_test_watermarks): a
        nightly build checks the new day, not the whole history. A full refresh, var full_data_tests, a
        test that never passed, and a test that failed last time (no new record) read everything. -#}
    {%- set where = config.get('where', '') -%}
    {%- set conditions = ["(" ~ where ~ ")"] if where else [] -%}
    {%- set scoped = data_test_scope(model.unique_id) if execute else none -%}
    {%- if scoped is not none and not flags.FULL_REFRESH and not var('full_data_tests', false) -%}
        {%- set watermarks = data_test_watermarks() -%}
        {%- set recorded = adapter.get_relation(watermarks.database, watermarks.schema, watermarks.identifier) -%}
        {%- if recorded is not none -%}
            {%- set found = run_query(
                "select count(*) from " ~ watermarks ~ " where test_id = '" ~ model.unique_id ~ "'"
            ).columns[0].values()[0] -%}
            {%- set inputs = market_staging_relations() if found > 0 else none -%}
            {%- if inputs is not none -%}
                {%- set verified = "(select verified_through from " ~ watermarks ~ " where test_id = '" ~ model.unique_id ~ "')" -%}
                {%- set start = earliest_change_since(verified, inputs[0], inputs[1], inputs[2]) -%}
                {%- set reopens = scoped.config.meta.get('reopens_sessions', 0) -%}
                {%- if reopens -%}
                    {%- set calendar = graph.nodes['model.' ~ project_name ~ '.int_calendar_days_spined'].relation_name -%}
                    {%- set start = sessions_before(start, reopens, calendar) -%}
                {%- endif -%}
                {%- do conditions.append("date >= " ~ date_literal(start)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {#- The relation gets an alias: with ANSI off, Spark would read `where (...)` as one. -#}
        {{ return("(select * from " ~ relation ~ " as tested where " ~ conditions | join(' and ') ~ ") as dbt_subquery") }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
