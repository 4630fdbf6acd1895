{% macro ema(expr, alpha, partition_by, session_column, tolerance=1e-6) -%}
    {#- Exponential moving average of `expr` with smoothing `alpha`, decaying per trading session.

        Weights are (1 - alpha) ** (sessions between the row and t), normalised by their sum over the
        rows present (pandas' ewm(adjust=True)), truncated after K sessions, where the weight falls
        below `tolerance` (K = ema_lookback_sessions(alpha)). Plain windowed sums compute it: each
        row's term is rebased to the start of its block of K sessions, and the two blocks a K-session
        frame can touch are told apart by parity, so exponents stay small on any history length.
        It only looks back (the frame ends at the current row), and a refresh that re-reads K sessions
        of history gives the same value as a full rebuild. -#}
    {%- set q = 1 - alpha -%}
    {%- set k = ema_lookback_sessions(alpha, tolerance) -%}
    {%- set block = "mod(cast(floor(" ~ session_column ~ " / " ~ k ~ ") as bigint), 2)" -%}
    {%- set rebase = "power(" ~ q ~ ", -mod(" ~ session_column ~ ", " ~ k ~ "))" -%}
    {%- set frame = "over (partition by " ~ partition_by ~ " order by " ~ session_column
        ~ " range between " ~ (k - 1) ~ " preceding and current row)" -%}
    {%- set carry = "power(" ~ q ~ ", " ~ k ~ ")" -%}
    {%- set sums = {} -%}
    {%- for parity in [0, 1] -%}
        {%- for name, value in [("x", expr), ("w", "1")] -%}
            {%- do sums.update({name ~ parity: "coalesce(sum(case when " ~ block ~ " = " ~ parity ~ " and (" ~ expr
                ~ ") is not null then (" ~ value ~ ") * " ~ rebase ~ " end) " ~ frame ~ ", 0)"}) -%}
        {%- endfor -%}
    {%- endfor -%}
    (case when {{ block }} = 0
        then ({{ sums.x0 }} + {{ carry }} * {{ sums.x1 }}) / nullif({{ sums.w0 }} + {{ carry }} * {{ sums.w1 }}, 0)
        else ({{ sums.x1 }} + {{ carry }} * {{ sums.x0 }}) / nullif({{ sums.w1 }} + {{ carry }} * {{ sums.w0 }}, 0)
    end)
{%- endmacro %}
