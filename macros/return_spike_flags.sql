{% macro return_spike_flags(relation, price_column, threshold, training_rows, min_rows, partition_by='symbol', order_by='date') -%}
    {#- A query over `relation` adding the return-spike rule's columns: log_return, judged_return,
        return_spike_z, return_trailing_median, return_trailing_scale and is_return_spike.

        A bar is a spike when its log return is more than `threshold` robust standard deviations
        (median and IQR / 1.349 of the trailing `training_rows` returns, never the bar itself) from
        normal. The bar after a spike is judged by its return from the close before the spike, so a
        one-day bad print flags the bad bar only, not the honest bar that reverts it (nor the bar
        after that). A real jump that persists flags its day and the next one. Point-in-time:
        nothing after the bar is read. -#}
    {%- set window = "partition by " ~ partition_by ~ " order by " ~ order_by
        ~ " rows between " ~ training_rows ~ " preceding and 1 preceding" -%}
    {%- set series = "over (partition by " ~ partition_by ~ " order by " ~ order_by ~ ")" -%}
    select
        *,
        case when is_after_spike then log_return_2d else log_return end as judged_return,
        case when is_after_spike
             then (log_return_2d - return_trailing_median) / nullif(return_trailing_scale, 0)
             else return_robust_z
        end as return_spike_z,
        coalesce(abs(case when is_after_spike
             then (log_return_2d - return_trailing_median) / nullif(return_trailing_scale, 0)
             else return_robust_z end) > {{ threshold }}, false) as is_return_spike
    from (
        select
            *,
            -- After a spike: the previous bar jumped, and not merely by reverting the one before it.
            coalesce(lag(abs(return_robust_z) > {{ threshold }}) {{ series }}, false)
                and not coalesce(lag(abs(return_robust_z) > {{ threshold }}, 2) {{ series }}, false) as is_after_spike
        from (
            select
                *,
                {{ robust_zscore('log_return', partition_by, order_by, training_rows, min_rows) }} as return_robust_z,
                {{ rolling_quantile('log_return', 0.5, window) }} as return_trailing_median,
                ({{ rolling_quantile('log_return', 0.75, window) }} - {{ rolling_quantile('log_return', 0.25, window) }}) / 1.349
                    as return_trailing_scale
            from (
                select
                    *,
                    ln({{ price_column }} / lag({{ price_column }}) {{ series }})    as log_return,
                    ln({{ price_column }} / lag({{ price_column }}, 2) {{ series }}) as log_return_2d
                from {{ relation }}
            ) as with_returns
        ) as scored
    ) as with_previous
{%- endmacro %}
