with

responses as (

    select * from {{ ref('stg_refiner__responses') }}

),

answers as (

    select * from {{ ref('fct_answers') }}

),

answer_summary as (

    select
        response_uuid,
        count(*) as answer_count,
        max(case when question_type = 'nps' then value_number end) as nps_score,
        max(case when question_type = 'csat' then value_number end) as csat_score

    from answers
    group by response_uuid

),

final as (

    select
        responses.response_uuid,
        responses.form_uuid,
        responses.contact_uuid,
        responses.account_uuid,
        case
            when responses.completed_at is not null then 'completed'
            when responses.first_data_reception_at is not null then 'partial'
            when responses.dismissed_at is not null then 'dismissed'
            else 'viewed'
        end as response_status,
        responses.first_data_reception_at is not null as has_answers,
        cast(coalesce(answer_summary.answer_count, 0) as integer) as answer_count,
        cast(answer_summary.nps_score as integer) as nps_score,
        answer_summary.csat_score,
        responses.show_counter,
        responses.tags,
        responses.first_shown_at,
        responses.last_shown_at,
        responses.first_data_reception_at,
        responses.last_data_reception_at,
        responses.completed_at,
        responses.dismissed_at,
        {{ utc_date('responses.last_data_reception_at') }} as response_day

    from responses
    left join answer_summary
        on responses.response_uuid = answer_summary.response_uuid

)

select * from final
