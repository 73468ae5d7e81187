with

source as (

    select * from {{ source('refiner', 'contacts') }}

),

renamed as (

    select
        cast(uuid as varchar) as contact_uuid,
        cast(remote_id as varchar) as remote_id,
        cast(email as varchar) as email,
        cast(display_name as varchar) as display_name,
        cast(account_uuid as varchar) as account_uuid,
        cast(account_remote_id as varchar) as account_remote_id,
        cast(account_display_name as varchar) as account_display_name,
        cast(account_domain as varchar) as account_domain,
        attributes,
        account_attributes,
        cast(first_seen_at as timestamp with time zone) as first_seen_at,
        cast(last_seen_at as timestamp with time zone) as last_seen_at,
        cast(last_form_submission_at as timestamp with time zone) as last_form_submission_at,
        cast(last_tracking_event_at as timestamp with time zone) as last_tracking_event_at,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
