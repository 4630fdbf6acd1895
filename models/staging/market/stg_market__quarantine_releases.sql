with source as (
    select * from {{ source('market', 'quarantine_releases') }}
),

renamed as (
    select
        upper(trim(symbol))             as symbol,
        cast(date as date)              as date,
        rule,
        reason,
        released_by,
        cast(released_at as timestamp)  as released_at
    from source
)

select * from renamed
