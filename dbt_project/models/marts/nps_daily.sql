with

answers as (

    select * from {{ ref('fct_answers') }}

),

nps_answers as (

    select
        form_uuid,
        answered_day,
        nps_category

    from answers
    where nps_category is not null

),

daily as (

    select
        form_uuid,
        answered_day as response_day,
        sum(case when nps_category = 'promoter' then 1 else 0 end) as promoters,
        sum(case when nps_category = 'passive' then 1 else 0 end) as passives,
        sum(case when nps_category = 'detractor' then 1 else 0 end) as detractors,
        count(*) as responses

    from nps_answers
    group by form_uuid, answered_day

),

final as (

    select
        form_uuid,
        response_day,
        cast(promoters as bigint) as promoters,
        cast(passives as bigint) as passives,
        cast(detractors as bigint) as detractors,
        cast(responses as bigint) as responses,
        cast(100.0 * (promoters - detractors) / responses as double precision) as nps

    from daily

)

select * from final
