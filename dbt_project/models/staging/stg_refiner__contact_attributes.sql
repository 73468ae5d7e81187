with

source as (

    select * from {{ source('refiner', 'contact_attributes') }}

),

renamed as (

    select
        cast(contact_uuid as varchar) as contact_uuid,
        cast(name as varchar) as attribute_name,
        cast(value_text as varchar) as value_text,
        cast(value_number as double precision) as value_number,
        cast(value_bool as boolean) as value_bool,
        cast(value_timestamp as timestamp with time zone) as value_timestamp,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
