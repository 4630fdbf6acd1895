{% macro incremental_start_date() -%}
    {#- The first date an incremental run must (re)build: the session before the earliest change to its
        market inputs (earliest_change_since) after the newest input this model has seen (its max
        source_loaded_at). The session before, because one verdict on a bar waits for the next bar: a
        return spike is a bad print when the next bar reverses it (int_prices_checked), so a new bar can
        change the verdict on, and the features of, the bar before it. A full build starts at the beginning
        of time; a run with nothing new starts after the end of time (builds nothing). Written as a date
        literal (date_literal), so the filters built on it reach the scans under every view. Models calling
        this need `-- depends_on: {{ ref('stg_market__daily_ohlcv') }}` (dbt cannot see refs inside
        is_incremental). -#}
    {%- if is_incremental() -%}
    {%- set changed = date_literal(earliest_change_since(
        "(select coalesce(max(source_loaded_at), timestamp '0001-01-01') from " ~ this ~ ")",
        ref('stg_market__daily_ohlcv'), ref('stg_market__quarantine_releases'), ref('stg_market__symbol_properties')
    )) -%}
    {%- if not execute or not changed.startswith("date '") or changed == "date '9999-12-31'" -%}
    {{ changed }}
    {%- else -%}
    {{ date_literal(sessions_before(changed, 1)) }}
    {%- endif -%}
    {%- else -%}
    date '0001-01-01'
    {%- endif -%}
{%- endmacro %}
