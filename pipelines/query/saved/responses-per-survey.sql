-- Responses per survey: answered, completed and partial responses, and the latest answer.
-- Reads the dbt marts: run `refiner transform` after `refiner load`.
select
    forms.form_name,
    count(responses.response_uuid) as responses,
    count(case when responses.response_status = 'completed' then 1 end) as completed,
    count(case when responses.response_status = 'partial' then 1 end) as partial,
    max(responses.last_data_reception_at) as last_response_at
from refiner_analytics.dim_forms as forms
left join refiner_analytics.fct_responses as responses
    on forms.form_uuid = responses.form_uuid and responses.has_answers
group by forms.form_uuid, forms.form_name
order by responses desc, forms.form_name
