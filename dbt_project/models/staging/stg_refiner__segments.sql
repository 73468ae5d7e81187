with

source as (

    select * from {{ source('refiner', 'segments') }}

),

renamed as (

    select
        cast(uuid as varchar) as segment_uuid,
        cast(name as varchar) as segment_name,
        cast(is_manual as boolean) as is_manual,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
