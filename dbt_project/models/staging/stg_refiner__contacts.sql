{#
    Contacts from the batch load and from webhook payloads, one row per contact: the newest
    version by last_seen_at; on a tie the batch version, then the latest delivery.
    The columns the two sources share are listed once, in `contact_columns`.
#}

{%- set contact_columns = [
    'uuid',
    'remote_id',
    'email',
    'display_name',
    'account_uuid',
    'account_remote_id',
    'account_display_name',
    'account_domain',
    'attributes',
    'account_attributes',
    'first_seen_at',
    'last_seen_at',
    'last_form_submission_at',
    'last_tracking_event_at',
] -%}

with

batch_contacts as (

    select * from {{ source('refiner', 'contacts') }}

),

webhook_contacts as (

    select * from {{ webhook_source('webhook_contacts', 'contacts') }}

),

versions as (

    {{ batch_and_webhook_versions(
        contact_columns,
        'batch_contacts',
        'webhook_contacts',
        with_spooled_at=true
    ) }}

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
        version_origin,
        cast(webhook_delivery_id as varchar) as webhook_delivery_id,
        cast(spooled_at as timestamp with time zone) as spooled_at,
        _dlt_load_id as dlt_load_id

    from versions

),

ranked as (

    select
        *,
        row_number() over (
            partition by contact_uuid
            order by
                last_seen_at desc nulls last,
                case when version_origin = 'batch' then 0 else 1 end asc,
                spooled_at desc
        ) as version_rank

    from renamed

),

final as (

    select
        contact_uuid,
        remote_id,
        email,
        display_name,
        account_uuid,
        account_remote_id,
        account_display_name,
        account_domain,
        attributes,
        account_attributes,
        first_seen_at,
        last_seen_at,
        last_form_submission_at,
        last_tracking_event_at,
        version_origin,
        webhook_delivery_id,
        dlt_load_id

    from ranked
    where version_rank = 1

)

select * from final
