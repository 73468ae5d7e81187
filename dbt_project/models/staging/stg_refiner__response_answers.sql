with

source as (

    select * from {{ source('refiner', 'response_answers') }}

),

renamed as (

    select
        cast(response_uuid as varchar) as response_uuid,
        cast(form_uuid as varchar) as form_uuid,
        cast(contact_uuid as varchar) as contact_uuid,
        cast(question_identifier as varchar) as question_identifier,
        cast(position as integer) as answer_position,
        cast(value_text as varchar) as value_text,
        cast(value_number as double precision) as value_number,
        cast(value_bool as boolean) as value_bool,
        cast(answered_at as timestamp with time zone) as answered_at,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
