with

forms as (

    select * from {{ ref('stg_refiner__forms') }}

),

form_elements as (

    select
        forms.form_uuid,
        {{ json_text('elements.value', 'id') }} as question_identifier,
        lower({{ json_text('elements.value', 'type') }}) as question_type,
        {{ json_text('elements.value', 'question') }} as question_text

    from forms
    {{ join_json_array_elements('forms.config', 'form_elements', 'elements') }}

),

final as (

    select * from form_elements
    where question_identifier is not null

)

select * from final
