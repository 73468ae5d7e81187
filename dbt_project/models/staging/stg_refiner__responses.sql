with

source as (

    select * from {{ source('refiner', 'responses') }}

),

renamed as (

    select
        cast(uuid as varchar) as response_uuid,
        cast(form_uuid as varchar) as form_uuid,
        cast(contact_uuid as varchar) as contact_uuid,
        cast(form_name as varchar) as form_name,
        cast(contact_remote_id as varchar) as contact_remote_id,
        cast(contact_email as varchar) as contact_email,
        cast(contact_display_name as varchar) as contact_display_name,
        cast(account_uuid as varchar) as account_uuid,
        cast(account_remote_id as varchar) as account_remote_id,
        cast(show_counter as integer) as show_counter,
        data,
        tags,
        cast(first_shown_at as timestamp with time zone) as first_shown_at,
        cast(last_shown_at as timestamp with time zone) as last_shown_at,
        cast(first_data_reception_at as timestamp with time zone) as first_data_reception_at,
        cast(last_data_reception_at as timestamp with time zone) as last_data_reception_at,
        cast(completed_at as timestamp with time zone) as completed_at,
        cast(received_at as timestamp with time zone) as received_at,
        cast(dismissed_at as timestamp with time zone) as dismissed_at,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
