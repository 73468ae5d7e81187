-- The latest 50 comments from detractors: text answers in responses that scored NPS 0-6.
-- Reads the dbt marts: run `refiner transform` after `refiner load`.
select
    scores.answered_at,
    forms.form_name,
    contacts.contact_identifier as contact,
    cast(scores.value_number as integer) as nps_score,
    comments.value_text as comment
from refiner_analytics.fct_answers as scores
inner join refiner_analytics.fct_answers as comments
    on
        scores.response_uuid = comments.response_uuid
        and comments.question_type = 'text'
        and trim(comments.value_text) <> ''
left join refiner_analytics.dim_forms as forms
    on scores.form_uuid = forms.form_uuid
left join refiner_analytics.dim_contacts as contacts
    on scores.contact_uuid = contacts.contact_uuid
where scores.nps_category = 'detractor'
order by scores.answered_at desc, scores.response_uuid, comments.answer_position
limit 50
