-- NPS per survey and week (weeks start on Monday, UTC), recomputed from the raw answers.
-- Reads the dbt mart nps_daily: run `refiner transform` after `refiner load`.
select
    forms.form_name,
    cast(date_trunc('week', daily.response_day) as date) as week_start,
    cast(sum(daily.promoters) as bigint) as promoters,
    cast(sum(daily.passives) as bigint) as passives,
    cast(sum(daily.detractors) as bigint) as detractors,
    cast(sum(daily.responses) as bigint) as responses,
    round(100.0 * (sum(daily.promoters) - sum(daily.detractors)) / sum(daily.responses), 1) as nps
from refiner_analytics.nps_daily as daily
inner join refiner_analytics.dim_forms as forms
    on daily.form_uuid = forms.form_uuid
group by forms.form_uuid, forms.form_name, cast(date_trunc('week', daily.response_day) as date)
order by week_start desc, forms.form_name
