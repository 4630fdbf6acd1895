{% macro get_where_subquery(relation) -%}
    {#- dbt wraps the model every generic data test reads in this macro (its `where` config). On top of
        `where`, a test that data_test_scope() allows and that has passed before reads only the dates whose
        market inputs changed since the inputs its last pass verified (audit.data_test_watermarks): a
        nightly build checks the new day, not the whole history. A full refresh, var full_data_tests, a
        test that never passed, and a test that failed last time (no new record) read everything.
        Tests that last passed on the same inputs and widen by the same sessions share one start date,
        looked up once per run (run_cache). -#}
    {%- set where = config.get('where', '') -%}
    {%- set conditions = ["(" ~ where ~ ")"] if where else [] -%}
    {%- set scoped = data_test_scope(model.unique_id) if execute else none -%}
    {%- if scoped is not none and not flags.FULL_REFRESH and not var('full_data_tests', false) -%}
        {%- set verified = data_test_verified_through(model.unique_id) -%}
        {%- set inputs = market_staging_relations() if verified is not none else none -%}
        {%- if inputs is not none -%}
            {%- set reopens = scoped.config.meta.get('reopens_sessions', 0) -%}
            {%- set starts = run_cache().setdefault('data_test_starts', {}) -%}
            {%- set key = verified ~ ' ' ~ reopens -%}
            {%- if key not in starts -%}
                {%- set start = earliest_change_since(verified, inputs[0], inputs[1], inputs[2]) -%}
                {%- if reopens -%}
                    {%- set calendar = graph.nodes['model.' ~ project_name ~ '.int_calendar_days_spined'].relation_name -%}
                    {%- set start = sessions_before(start, reopens, calendar) -%}
                {%- endif -%}
                {%- do starts.update({key: date_literal(start)}) -%}
            {%- endif -%}
            {%- do conditions.append("date >= " ~ starts[key]) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {#- The relation gets an alias: with ANSI off, Spark would read `where (...)` as one. -#}
        {{ return("(select * from " ~ relation ~ " as tested where " ~ conditions | join(' and ') ~ ") as dbt_subquery") }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
