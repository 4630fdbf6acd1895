with source as (
    select * from {{ source('market', 'load_batches') }}
),

renamed as (
    select
        batch_id,
        source,
        symbols,
        first_date,
        last_date,
        rows_received,
        duplicates_collapsed,
        rows_inserted,
        rows_updated,
        rows_unchanged,
        started_at,
        finished_at
    from source
)

select * from renamed
