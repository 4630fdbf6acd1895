{{ config(materialized='view') }}

-- Features joined point-in-time with their labels: the features of day t (data up to t) beside the
-- returns after t. A row appears only once every label horizon is complete (all labels known), so no
-- row's label reaches past the data.
-- A view, not a table: it holds nothing of its own (a join and a filter of two incremental marts),
-- so a nightly build has nothing to rewrite here, and the warehouse does not store the 67 feature
-- columns twice. A filter on date or symbol reaches both marts' scans. A view's contract checks names
-- and types but not their order, so the columns are listed in the YAML's order by hand.

with features as (
    select * from {{ ref('fct_daily_features') }}
),

labels as (
    select * from {{ ref('fct_daily_labels') }}
),

joined as (
    select
        {%- for column in contract_columns('fct_daily_features') if column != 'source_loaded_at' %}
        features.{{ column }},
        {%- endfor %}
        labels.fwd_ret_1d,
        labels.direction_1d,
        labels.fwd_ret_5d,
        labels.direction_5d,
        labels.fwd_ret_21d,
        labels.direction_21d,
        labels.label_end_date_21d,
        greatest(features.source_loaded_at, labels.source_loaded_at) as source_loaded_at
    from features
    inner join labels on features.symbol = labels.symbol and features.date = labels.date
    -- a benchmark (an index) is a market input, never a training row (int_symbols_classified)
    where features.symbol in (select classified.symbol from {{ ref('int_symbols_classified') }} as classified where classified.is_tradable)
      and labels.fwd_ret_1d is not null
      and labels.fwd_ret_5d is not null
      and labels.fwd_ret_21d is not null
)

select * from joined
