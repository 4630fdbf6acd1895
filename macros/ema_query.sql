{% macro ema_query(relation, emas, partition_by='symbol', session_column='session_number', tolerance=1e-6) -%}
    {#- A query giving, for every row of `relation`, exponential moving averages that decay per trading
        session: one column per entry of `emas`, a list of (output name, SQL expression, alpha).

        Weights are (1 - alpha) ** (sessions between the row and t), normalised by their sum over the
        rows present (pandas' ewm(adjust=True)). Sessions are cut into blocks of K sessions, where K is
        the session count at which a weight falls below `tolerance`; the EMA at t sums its own block up
        to t (a running sum) and the whole previous block (a group total), each term rebased to its
        block so exponents stay small on any history length, and drops older blocks (weight below
        tolerance). Only running sums, group totals and a join: it looks back only, it is fast on wide
        histories, and a refresh that re-reads two blocks of history equals a full rebuild. -#}
    {%- set parts = [] -%}
    {%- for name, expr, alpha in emas -%}
        {%- set q = 1 - alpha -%}
        {%- set k = ema_lookback_sessions(alpha, tolerance) -%}
        {%- set block = "cast(floor(" ~ session_column ~ " / " ~ k ~ ") as bigint)" -%}
        {%- set rebase = "power(" ~ q ~ ", -mod(" ~ session_column ~ ", " ~ k ~ "))" -%}
        {%- set running = "over (partition by " ~ partition_by ~ ", ema_block order by " ~ session_column
            ~ " rows between unbounded preceding and current row)" -%}
        {%- do parts.append((name, q, k, block, rebase, running, expr)) -%}
    {%- endfor -%}
    select
        base.{{ partition_by }},
        base.{{ session_column }}
        {%- for name, q, k, block, rebase, running, expr in parts %},
        ({{ name }}_blocks.own_x + power({{ q }}, {{ k }}) * coalesce({{ name }}_previous.previous_x, 0))
            / nullif({{ name }}_blocks.own_w + power({{ q }}, {{ k }}) * coalesce({{ name }}_previous.previous_w, 0), 0)
            as {{ name }}
        {%- endfor %}
    from {{ relation }} as base
    {%- for name, q, k, block, rebase, running, expr in parts %}
    join (
        select
            {{ partition_by }}, {{ session_column }}, ema_block,
            coalesce(sum(term_x) {{ running }}, 0) as own_x,
            coalesce(sum(term_w) {{ running }}, 0) as own_w
        from (
            select
                {{ partition_by }}, {{ session_column }}, {{ block }} as ema_block,
                ({{ expr }}) * {{ rebase }} as term_x,
                case when ({{ expr }}) is not null then {{ rebase }} end as term_w
            from {{ relation }}
        ) as terms
    ) as {{ name }}_blocks
      on {{ name }}_blocks.{{ partition_by }} = base.{{ partition_by }}
     and {{ name }}_blocks.{{ session_column }} = base.{{ session_column }}
    left join (
        select {{ partition_by }}, {{ block }} + 1 as ema_block,
               sum(({{ expr }}) * {{ rebase }}) as previous_x,
               sum(case when ({{ expr }}) is not null then {{ rebase }} end) as previous_w
        from {{ relation }}
        group by {{ partition_by }}, {{ block }}
    ) as {{ name }}_previous
      on {{ name }}_previous.{{ partition_by }} = base.{{ partition_by }}
     and {{ name }}_previous.ema_block = {{ name }}_blocks.ema_block
    {%- endfor %}
{%- endmacro %}
