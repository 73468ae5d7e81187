with

source as (

    select * from {{ source('refiner', 'forms') }}

),

renamed as (

    select
        cast(uuid as varchar) as form_uuid,
        cast(name as varchar) as form_name,
        channels,
        folder,
        config,
        cast(page_url as varchar) as page_url,
        cast(responses_count as bigint) as responses_count,
        cast(views_count as bigint) as views_count,
        cast(created_at as timestamp with time zone) as created_at,
        cast(updated_at as timestamp with time zone) as updated_at,
        cast(published_at as timestamp with time zone) as published_at,
        cast(archived_at as timestamp with time zone) as archived_at,
        cast(first_form_view_at as timestamp with time zone) as first_form_view_at,
        cast(last_form_view_at as timestamp with time zone) as last_form_view_at,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
