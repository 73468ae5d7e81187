with

answers as (

    select * from {{ ref('fct_answers') }}

),

csat_answers as (

    select
        form_uuid,
        answered_day,
        value_number as csat_score

    from answers
    where
        question_type = 'csat'
        and value_number is not null

),

daily as (

    select
        form_uuid,
        answered_day as response_day,
        sum(case when csat_score >= 4 then 1 else 0 end) as satisfied,
        count(*) as responses,
        avg(csat_score) as average_score

    from csat_answers
    group by form_uuid, answered_day

),

final as (

    select
        form_uuid,
        response_day,
        cast(satisfied as bigint) as satisfied,
        cast(responses as bigint) as responses,
        cast(average_score as double precision) as average_score,
        cast(100.0 * satisfied / responses as double precision) as csat

    from daily

)

select * from final
