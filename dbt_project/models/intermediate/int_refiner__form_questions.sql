{#
    Which questions are NPS and CSAT, decided in this order (the first that applies wins):
    1. the element's `type` in the form's config, when the config lists the question with one;
    2. the `nps_questions` / `csat_questions` vars (identifiers or globs, fed from [transform]);
    3. the heuristic: every answer is an integer in 0..10 and the identifier contains `nps` or
       `recommend` (NPS), or every answer is an integer in 1..5 and the identifier contains
       `csat` or `satisf` (CSAT).
    Questions are those of the config plus every identifier that has answers, so a form whose
    config is opaque still lists the questions its responses answered.
#}

with

forms as (

    select * from {{ ref('stg_refiner__forms') }}

),

answers as (

    select * from {{ ref('stg_refiner__response_answers') }}

),

form_elements as (

    select
        forms.form_uuid,
        {{ json_text('elements.value', 'id') }} as question_identifier,
        lower({{ json_text('elements.value', 'type') }}) as config_type,
        {{ json_text('elements.value', 'question') }} as question_text

    from forms
    {{ join_json_array_elements('forms.config', 'form_elements', 'elements') }}

),

config_questions as (

    select * from form_elements
    where question_identifier is not null

),

answer_profiles as (

    select
        form_uuid,
        question_identifier,
        count(*) as answer_count,
        sum(
            case
                when
                    value_number is not null
                    and value_number = floor(value_number)
                    and value_number between 0 and 10
                    then 1
                else 0
            end
        ) as zero_to_ten_answers,
        sum(
            case
                when
                    value_number is not null
                    and value_number = floor(value_number)
                    and value_number between 1 and 5
                    then 1
                else 0
            end
        ) as one_to_five_answers

    from answers
    group by form_uuid, question_identifier

),

questions as (

    select
        config_questions.config_type,
        config_questions.question_text,
        coalesce(config_questions.form_uuid, answer_profiles.form_uuid) as form_uuid,
        coalesce(
            config_questions.question_identifier, answer_profiles.question_identifier
        ) as question_identifier,
        coalesce(answer_profiles.answer_count, 0) as answer_count,
        coalesce(answer_profiles.zero_to_ten_answers, 0) as zero_to_ten_answers,
        coalesce(answer_profiles.one_to_five_answers, 0) as one_to_five_answers

    from config_questions
    full outer join answer_profiles
        on
            config_questions.form_uuid = answer_profiles.form_uuid
            and config_questions.question_identifier = answer_profiles.question_identifier

),

signals as (

    select
        form_uuid,
        question_identifier,
        config_type,
        question_text,
        {{ matches_any_pattern('question_identifier', var('nps_questions')) }} as nps_by_setting,
        {{ matches_any_pattern('question_identifier', var('csat_questions')) }} as csat_by_setting,
        (
            answer_count > 0
            and zero_to_ten_answers = answer_count
            and (
                lower(question_identifier) like '%nps%'
                or lower(question_identifier) like '%recommend%'
            )
        ) as nps_by_heuristic,
        (
            answer_count > 0
            and one_to_five_answers = answer_count
            and (
                lower(question_identifier) like '%csat%'
                or lower(question_identifier) like '%satisf%'
            )
        ) as csat_by_heuristic

    from questions

),

final as (

    select
        form_uuid,
        question_identifier,
        question_text,
        case
            when config_type is not null then config_type
            when nps_by_setting then 'nps'
            when csat_by_setting then 'csat'
            when nps_by_heuristic then 'nps'
            when csat_by_heuristic then 'csat'
        end as question_type,
        case
            when config_type is not null then 'config'
            when nps_by_setting or csat_by_setting then 'setting'
            when nps_by_heuristic or csat_by_heuristic then 'heuristic'
        end as question_type_source

    from signals

)

select * from final
