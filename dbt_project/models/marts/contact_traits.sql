{#
    Traits that `refiner push-traits` sends back to Refiner through identify-user.
    Every column except the identifiers (remote_id, email) is a trait.
#}

with

contacts as (

    select * from {{ ref('dim_contacts') }}

),

answers as (

    select * from {{ ref('fct_answers') }}

),

responses as (

    select * from {{ ref('fct_responses') }}

),

ranked_nps_answers as (

    select
        contact_uuid,
        value_number as nps_score,
        nps_category,
        row_number() over (
            partition by contact_uuid
            order by answered_at desc, response_uuid desc, answer_position desc
        ) as recency_rank

    from answers
    where nps_category is not null

),

latest_nps as (

    select * from ranked_nps_answers
    where recency_rank = 1

),

csat as (

    select
        contact_uuid,
        avg(value_number) as csat_average

    from answers
    where question_type = 'csat' and value_number is not null
    group by contact_uuid

),

response_activity as (

    select
        contact_uuid,
        max(last_data_reception_at) as last_response_at,
        sum(
            case
                when last_data_reception_at >= {{ dbt.dateadd('day', -90, 'current_timestamp') }}
                    then 1
                else 0
            end
        ) as responses_last_90d

    from responses
    where has_answers
    group by contact_uuid

),

joined as (

    select
        contacts.remote_id,
        contacts.email,
        cast(latest_nps.nps_score as integer) as nps_score,
        latest_nps.nps_category,
        cast(coalesce(response_activity.responses_last_90d, 0) as integer) as responses_last_90d,
        response_activity.last_response_at,
        cast(round(cast(csat.csat_average as numeric), 2) as double precision) as csat_average

    from contacts
    left join latest_nps
        on contacts.contact_uuid = latest_nps.contact_uuid
    left join csat
        on contacts.contact_uuid = csat.contact_uuid
    left join response_activity
        on contacts.contact_uuid = response_activity.contact_uuid
    where contacts.contact_identifier is not null

),

final as (

    select
        *,
        case
            when nps_category is null and csat_average is null then 'no_feedback'
            when nps_category = 'detractor' or csat_average <= 2.5
                then 'at_risk'
            when nps_category = 'promoter' and (csat_average is null or csat_average >= 4)
                then 'healthy'
            else 'neutral'
        end as feedback_health

    from joined

)

select * from final
