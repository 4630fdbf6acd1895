{{ incremental_by_date() }}

-- Features joined point-in-time with their labels: the features of day t (data up to t) beside the
-- returns after t. A row appears only once every label horizon is complete (all labels known), so no
-- row's label reaches past the data. Incremental runs recompute the 21 sessions before the first
-- changed date, where new data completes labels.
{%- set start = incremental_start_date() %}
{#- A date literal, so the filter reaches the scans below the views (date_literal); a full build starts at the start. -#}
{%- set reopens = config.get('meta', {}).get('reopens_sessions', 21) %}
{%- set label_start = date_literal(sessions_before(start, reopens)) if is_incremental() else start %}

with features as (
    select * from {{ ref('fct_daily_features') }} where date >= {{ label_start }}
),

labels as (
    select * from {{ ref('fct_daily_labels') }} where date >= {{ label_start }}
),

joined as (
    select
        {%- for column in contract_columns('fct_daily_features') if column != 'source_loaded_at' %}
        features.{{ column }},
        {%- endfor %}
        labels.fwd_ret_1d,
        labels.fwd_ret_5d,
        labels.fwd_ret_21d,
        labels.direction_1d,
        labels.direction_5d,
        labels.direction_21d,
        labels.label_end_date_21d,
        greatest(features.source_loaded_at, labels.source_loaded_at) as source_loaded_at
    from features
    inner join labels on features.symbol = labels.symbol and features.date = labels.date
    where labels.fwd_ret_1d is not null
      and labels.fwd_ret_5d is not null
      and labels.fwd_ret_21d is not null
)

select * from joined
