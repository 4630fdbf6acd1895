with source as (
    select * from {{ source('market', 'daily_ohlcv') }}
),

renamed as (
    select
        upper(trim(symbol))                              as symbol,
        cast(date as date)                               as date,
        cast(open as double)                             as open,
        cast(high as double)                             as high,
        cast(low as double)                              as low,
        cast(close as double)                            as close,
        cast(coalesce(adjusted_close, close) as double)  as adjusted_close,
        cast(volume as bigint)                           as volume,
        cast(coalesce(dividend_amount, 0) as double)     as dividend_amount,
        cast(coalesce(split_coefficient, 1) as double)   as split_coefficient,
        source,
        batch_id,
        cast(loaded_at as timestamp)                     as loaded_at
    from source
)

select * from renamed
