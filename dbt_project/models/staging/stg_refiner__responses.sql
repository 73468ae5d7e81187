{#
    Responses from the batch load and from webhooks (`refiner listen`, `refiner watch`),
    one row per response: the newest version by last_data_reception_at, then last_shown_at;
    on a tie the batch version, then the latest delivery.
    The columns the two sources share are listed once, in `response_columns`.
#}

{%- set response_columns = [
    'uuid',
    'form_uuid',
    'contact_uuid',
    'form_name',
    'contact_remote_id',
    'contact_email',
    'contact_display_name',
    'account_uuid',
    'account_remote_id',
    'show_counter',
    'data',
    'tags',
    'first_shown_at',
    'last_shown_at',
    'first_data_reception_at',
    'last_data_reception_at',
    'completed_at',
    'received_at',
    'dismissed_at',
] -%}

with

batch_responses as (

    select * from {{ source('refiner', 'responses') }}

),

webhook_responses as (

    select * from {{ webhook_source('webhook_responses', 'responses') }}

),

versions as (

    {{ batch_and_webhook_versions(
        response_columns,
        'batch_responses',
        'webhook_responses',
        with_spooled_at=true,
        webhook_filter=included_responses()
    ) }}

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
            partition by response_uuid
            order by
                last_data_reception_at desc nulls last,
                last_shown_at desc nulls last,
                case when version_origin = 'batch' then 0 else 1 end asc,
                spooled_at desc
        ) as version_rank

    from renamed

),

final as (

    select
        response_uuid,
        form_uuid,
        contact_uuid,
        form_name,
        contact_remote_id,
        contact_email,
        contact_display_name,
        account_uuid,
        account_remote_id,
        show_counter,
        data,
        tags,
        first_shown_at,
        last_shown_at,
        first_data_reception_at,
        last_data_reception_at,
        completed_at,
        received_at,
        dismissed_at,
        version_origin,
        webhook_delivery_id,
        dlt_load_id

    from ranked
    where version_rank = 1

)

select * from final
