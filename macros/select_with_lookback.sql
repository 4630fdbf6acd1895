{% macro select_with_lookback(relation, start_date, lookback_rows, partition_by=none, date_column='date') -%}
    {#- Rows of `relation` dated on or after `start_date`, plus the `lookback_rows` rows before it in
        each `partition_by` series (all rows on a full build): exactly the history trailing windows of
        up to `lookback_rows` rows need, so an incremental refresh equals a full rebuild. Only series with
        a row to rebuild re-read history, so a run with nothing new reads nothing. -#}
    {%- if is_incremental() -%}
    select * from {{ relation }} where {{ date_column }} >= {{ start_date }}
    union all
    select * exclude (_rows_back) from (
        select *, row_number() over ({% if partition_by %}partition by {{ partition_by }} {% endif %}order by {{ date_column }} desc) as _rows_back
        from {{ relation }}
        where {{ date_column }} < {{ start_date }}
        {%- if partition_by %}
          and {{ partition_by }} in (select {{ partition_by }} from {{ relation }} where {{ date_column }} >= {{ start_date }})
        {%- endif %}
    ) where _rows_back <= {{ lookback_rows }}
    {%- else -%}
    select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}
