{% macro select_with_lookback(relation, start_date, lookback_rows, partition_by=none, date_column='date') -%}
    {#- Rows of `relation` dated on or after `start_date`, plus the `lookback_rows` rows before it in
        each `partition_by` series (all rows on a full build): exactly the history trailing windows of
        up to `lookback_rows` rows need, so an incremental refresh equals a full rebuild. Only series with
        a row to rebuild re-read history, so a run with nothing new reads nothing.

        The cost follows the window, not the history: the lookback is looked for among the last
        `lookback_rows` + slack trading sessions before `start_date` (slack: a quarter more, plus a month,
        for missing or quarantined bars). A series with fewer rows than that in those sessions (a gap,
        a short history) reads its whole past instead, so the result is exact either way. Which series
        those are is asked first (one query over the window) and they are named in the SQL: a filter
        on a subquery cannot reach below a view's own window functions (int_prices_resolved ranks
        providers per bar), so the whole past would be ranked on every run to find out that no series
        needs it. -#}
    {%- if is_incremental() -%}
    {%- set key = partition_by if partition_by else "'all'" -%}
    {%- set window_start = date_literal(sessions_before(start_date, lookback_rows + lookback_rows // 4 + 21)) -%}
    {%- set uncovered_sql -%}
        select changed.series
        from (
            select distinct {{ key }} as series from {{ relation }} where {{ date_column }} >= {{ start_date }}
        ) as changed
        left join (
            select {{ key }} as series, count(*) as rows_in_window from {{ relation }}
            where {{ date_column }} >= {{ window_start }} and {{ date_column }} < {{ start_date }}
            group by {{ key }}
        ) as covered on changed.series = covered.series
        where coalesce(covered.rows_in_window, 0) < {{ lookback_rows }}
        order by 1
    {%- endset -%}
    {%- set uncovered = run_query(uncovered_sql).columns[0].values() | list if execute else [] -%}
    select * from {{ relation }} where {{ date_column }} >= {{ start_date }}
    union all
    select * exclude (_rows_back) from (
        select
            *,
            row_number() over ({% if partition_by %}partition by {{ partition_by }} {% endif %}order by {{ date_column }} desc) as _rows_back
        from (
            select * from {{ relation }}
            where {{ date_column }} >= {{ window_start }} and {{ date_column }} < {{ start_date }}
            {%- if partition_by %}
              and {{ partition_by }} in (select {{ partition_by }} from {{ relation }} where {{ date_column }} >= {{ start_date }})
            {%- endif %}
            {%- if uncovered %}
            union all
            -- the series the window does not cover read their whole past (rare: gaps, new listings)
            select * from {{ relation }}
            where {{ date_column }} < {{ window_start }}
              and {{ key }} in ({% for series in uncovered %}'{{ series | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor %})
            {%- endif %}
        ) as candidates
    ) as ranked
    where _rows_back <= {{ lookback_rows }}
    {%- else -%}
    select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}
