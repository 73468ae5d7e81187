{#
    Answers of the response version that stg_refiner__responses keeps: the batch load's
    answers, or those of the one webhook delivery that carried the newest version.
    The columns the two sources share are listed once, in `answer_columns`.
#}

{%- set answer_columns = [
    'response_uuid',
    'form_uuid',
    'contact_uuid',
    'question_identifier',
    'position',
    'value_text',
    'value_number',
    'value_bool',
    'answered_at',
] -%}

with

batch_answers as (

    select * from {{ source('refiner', 'response_answers') }}

),

webhook_answers as (

    select * from {{ webhook_source('webhook_response_answers', 'response_answers') }}

),

kept_versions as (

    select * from {{ ref('stg_refiner__responses') }}

),

versions as (

    {{ batch_and_webhook_versions(answer_columns, 'batch_answers', 'webhook_answers') }}

),

kept as (

    {{ rows_of_kept_versions('versions', 'kept_versions', 'response_uuid') }}

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

    from kept

)

select * from renamed
