with

source as (

    select * from {{ source('refiner', 'reporting') }}

),

renamed as (

    select
        cast(report_type as varchar) as report_type,
        cast(form_uuid as varchar) as form_uuid,
        cast(day as date) as report_day,
        cast(score as double precision) as score,
        cast(count as bigint) as data_points,
        cast(views as bigint) as views,  -- noqa: RF04
        cast(responses as bigint) as responses,
        cast(promoters as bigint) as promoters,
        cast(passives as bigint) as passives,
        cast(detractors as bigint) as detractors,
        breakdown,
        cast(date_range_start as timestamp with time zone) as date_range_start,
        cast(date_range_end as timestamp with time zone) as date_range_end,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
