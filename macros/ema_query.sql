{% macro ema_query(relation, emas, partition_by='symbol', session_column='session_number', tolerance=1e-6) -%}
    {#- A query giving, for every row of `relation`, exponential moving averages that decay per trading
        session: one column per entry of `emas`, a list of (output name, SQL expression, alpha).

        Weights are (1 - alpha) ** (sessions between the row and t), normalised by their sum over the
        rows present (pandas' ewm(adjust=True)). Sessions are cut into blocks of K sessions, where K is
        the session count at which the slowest-decaying weight falls below `tolerance`; the EMA at t sums
        its own block up to t (a running sum) and the whole previous block (a group total), each term
        rebased to its block so exponents stay small on any history length, and drops older blocks
        (weight below tolerance). All EMAs share the blocks, so the whole list costs one sort, one
        window pass, one aggregate and one join. It looks back only, and a refresh that re-reads two
        blocks of history equals a full rebuild. -#}
    {%- set ns = namespace(k=0) -%}
    {%- for name, expr, alpha in emas -%}
        {%- set k = ema_lookback_sessions(alpha, tolerance) | int -%}
        {%- if k > ns.k %}{% set ns.k = k %}{% endif -%}
    {%- endfor -%}
    {%- set k = ns.k -%}
    {%- set running = "over (partition by " ~ partition_by ~ ", ema_block order by " ~ session_column
        ~ " rows between unbounded preceding and current row)" -%}
    with ema_terms as (
        select
            {{ partition_by }},
            {{ session_column }},
            cast(floor({{ session_column }} / {{ k }}) as bigint) as ema_block
            {%- for name, expr, alpha in emas %}
            {%- set rebase = "power(" ~ (1 - alpha) ~ ", -mod(" ~ session_column ~ ", " ~ k ~ "))" %},
            ({{ expr }}) * {{ rebase }} as {{ name }}_term_x,
            case when ({{ expr }}) is not null then {{ rebase }} end as {{ name }}_term_w
            {%- endfor %}
        from {{ relation }}
    ),

    ema_own_block as (
        select
            {{ partition_by }},
            {{ session_column }},
            ema_block
            {%- for name, expr, alpha in emas %},
            coalesce(sum({{ name }}_term_x) {{ running }}, 0) as {{ name }}_own_x,
            coalesce(sum({{ name }}_term_w) {{ running }}, 0) as {{ name }}_own_w
            {%- endfor %}
        from ema_terms
    ),

    ema_previous_block as (
        select
            {{ partition_by }},
            ema_block + 1 as ema_block
            {%- for name, expr, alpha in emas %},
            sum({{ name }}_term_x) as {{ name }}_previous_x,
            sum({{ name }}_term_w) as {{ name }}_previous_w
            {%- endfor %}
        from ema_terms
        group by {{ partition_by }}, ema_block
    )

    select
        own.{{ partition_by }},
        own.{{ session_column }}
        {%- for name, expr, alpha in emas %}
        {%- set carry = "power(" ~ (1 - alpha) ~ ", " ~ k ~ ")" %},
        (own.{{ name }}_own_x + {{ carry }} * coalesce(previous.{{ name }}_previous_x, 0))
            / nullif(own.{{ name }}_own_w + {{ carry }} * coalesce(previous.{{ name }}_previous_w, 0), 0)
            as {{ name }}
        {%- endfor %}
    from ema_own_block as own
    left join ema_previous_block as previous
      on previous.{{ partition_by }} = own.{{ partition_by }}
     and previous.ema_block = own.ema_block
{%- endmacro %}
