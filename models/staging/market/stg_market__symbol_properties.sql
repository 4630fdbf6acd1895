with source as (
    select * from {{ source('market', 'symbol_properties') }}
),

renamed as (
    select
        upper(trim(symbol))              as symbol,
        cast(has_volume as boolean)      as has_volume,
        cast(role as string)             as role,
        declared_by,
        cast(declared_at as timestamp)   as declared_at
    from source
)

select * from renamed
