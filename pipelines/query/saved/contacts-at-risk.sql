-- Contacts at risk: latest NPS a detractor, or CSAT average 2.5 or less; most recent first.
-- These are the feedback_health = 'at_risk' rows that `refiner push-traits` sends to Refiner.
-- Reads the dbt mart contact_traits: run `refiner transform` after `refiner load`.
select
    remote_id,
    email,
    nps_score,
    nps_category,
    csat_average,
    responses_last_90d,
    last_response_at
from refiner_analytics.contact_traits
where feedback_health = 'at_risk'
order by last_response_at desc nulls last, remote_id, email
