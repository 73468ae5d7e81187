with

forms as (

    select * from {{ ref('stg_refiner__forms') }}

),

questions as (

    select * from {{ ref('int_refiner__form_questions') }}

),

question_summary as (

    select
        form_uuid,
        count(*) as question_count,
        sum(case when question_type = 'nps' then 1 else 0 end) as nps_question_count,
        sum(case when question_type = 'csat' then 1 else 0 end) as csat_question_count

    from questions
    group by form_uuid

),

final as (

    select  -- noqa: ST06
        forms.form_uuid,
        forms.form_name,
        forms.published_at is not null as is_published,
        forms.archived_at is not null as is_archived,
        cast(coalesce(question_summary.question_count, 0) as integer) as question_count,
        cast(coalesce(question_summary.nps_question_count, 0) as integer) as nps_question_count,
        cast(coalesce(question_summary.csat_question_count, 0) as integer) as csat_question_count,
        forms.responses_count,
        forms.views_count,
        forms.channels,
        forms.page_url,
        forms.created_at,
        forms.updated_at,
        forms.published_at,
        forms.archived_at

    from forms
    left join question_summary
        on forms.form_uuid = question_summary.form_uuid

)

select * from final
