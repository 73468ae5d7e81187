with

contacts as (

    select * from {{ ref('stg_refiner__contacts') }}

),

responses as (

    select * from {{ ref('fct_responses') }}

),

response_summary as (

    select
        contact_uuid,
        count(*) as response_count,
        min(last_data_reception_at) as first_response_at,
        max(last_data_reception_at) as last_response_at

    from responses
    where has_answers
    group by contact_uuid

),

final as (

    select  -- noqa: ST06
        contacts.contact_uuid,
        contacts.remote_id,
        contacts.email,
        coalesce(contacts.remote_id, contacts.email) as contact_identifier,
        contacts.display_name,
        contacts.account_uuid,
        contacts.account_remote_id,
        contacts.account_display_name,
        contacts.account_domain,
        contacts.attributes,
        contacts.first_seen_at,
        contacts.last_seen_at,
        cast(coalesce(response_summary.response_count, 0) as integer) as response_count,
        response_summary.first_response_at,
        response_summary.last_response_at

    from contacts
    left join response_summary
        on contacts.contact_uuid = response_summary.contact_uuid

)

select * from final
