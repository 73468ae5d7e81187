{#
    Attributes of the contact version that stg_refiner__contacts keeps: the batch load's
    attributes, or those of the one webhook delivery that carried the newest version.
    The columns the two sources share are listed once, in `attribute_columns`.
#}

{%- set attribute_columns = [
    'contact_uuid',
    'name',
    'value_text',
    'value_number',
    'value_bool',
    'value_timestamp',
] -%}

with

batch_attributes as (

    select * from {{ source('refiner', 'contact_attributes') }}

),

webhook_attributes as (

    select * from {{ webhook_source('webhook_contact_attributes', 'contact_attributes') }}

),

kept_versions as (

    select * from {{ ref('stg_refiner__contacts') }}

),

versions as (

    {{ batch_and_webhook_versions(attribute_columns, 'batch_attributes', 'webhook_attributes') }}

),

kept as (

    {{ rows_of_kept_versions('versions', 'kept_versions', 'contact_uuid') }}

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

    from kept

)

select * from renamed
