with

forms as (

    select * from {{ ref('stg_refiner__forms') }}

),

questions as (

    select * from {{ ref('int_refiner__form_questions') }}

),

reporting as (

    select * from {{ ref('stg_refiner__reporting') }}

),

nps_reported_forms as (

    select distinct form_uuid
    from reporting
    where
        report_type = 'nps'
        and coalesce(data_points, 0) > 0

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
        nps_reported_forms.form_uuid is not null as has_nps_report,
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
    left join nps_reported_forms
        on forms.form_uuid = nps_reported_forms.form_uuid

)

select * from final
