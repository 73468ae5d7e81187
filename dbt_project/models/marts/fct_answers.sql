with

answers as (

    select * from {{ ref('stg_refiner__response_answers') }}

),

responses as (

    select * from {{ ref('stg_refiner__responses') }}

),

questions as (

    select * from {{ ref('int_refiner__form_questions') }}

),

answers_with_context as (

    select
        answers.response_uuid,
        answers.question_identifier,
        answers.answer_position,
        answers.form_uuid,
        answers.contact_uuid,
        coalesce(questions.question_type, 'unknown') as question_type,
        answers.value_text,
        answers.value_number,
        answers.value_bool,
        answers.answered_at,
        {{ utc_date('answers.answered_at') }} as answered_day,
        responses.completed_at is not null as is_completed,
        responses.completed_at

    from answers
    inner join responses
        on answers.response_uuid = responses.response_uuid
    left join questions
        on
            answers.form_uuid = questions.form_uuid
            and answers.question_identifier = questions.question_identifier

),

final as (

    select
        *,
        case
            when question_type != 'nps' or value_number is null then null
            when value_number >= 9 then 'promoter'
            when value_number <= 6 then 'detractor'
            else 'passive'
        end as nps_category

    from answers_with_context

)

select * from final
