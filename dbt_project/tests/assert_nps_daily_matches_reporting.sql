{#
    For every form and UTC day with a row in Refiner's own NPS report (`reporting`), nps_daily
    must recompute the same figures from the raw answers.

    Like is compared with like: both count the non-empty answers to `nps` questions whose
    response's last_data_reception_at falls in [day, day + 1) UTC, including partial responses.
    Refiner rounds its NPS to a whole number (halves away from zero), so the unrounded
    nps_daily.nps must lie within 0.5 of it.

    Forms with no recognised NPS question (dim_forms.nps_question_count = 0) are left out:
    `refiner transform` warns about each of them by name instead (see int_refiner__form_questions).

    Assumption: the load included partial responses (`responses_include` is partials or all).
    When it fetched completed responses only, the warehouse lacks answers Refiner counts, so
    each recomputed count may only fall short of the report, never exceed it, and the NPS
    itself is not compared.
#}

{# Dagster shows this test as a check of nps_daily (it reads reporting too). #}
{{ config(meta={'dagster': {'asset_key': ['nps_daily']}}) }}

{% set partials_loaded = var('responses_include') in ('partials', 'all') %}

with

reporting as (

    select * from {{ ref('stg_refiner__reporting') }}

),

forms as (

    select * from {{ ref('dim_forms') }}

),

reported as (

    select reporting.*
    from reporting
    inner join forms
        on reporting.form_uuid = forms.form_uuid
    where
        reporting.report_type = 'nps'
        and forms.nps_question_count > 0

),

recomputed as (

    select * from {{ ref('nps_daily') }}

),

compared as (

    select
        reported.form_uuid,
        reported.report_day,
        reported.score as reported_nps,
        recomputed.nps as recomputed_nps,
        coalesce(reported.data_points, 0) as reported_responses,
        coalesce(recomputed.responses, 0) as recomputed_responses,
        coalesce(reported.promoters, 0) as reported_promoters,
        coalesce(recomputed.promoters, 0) as recomputed_promoters,
        coalesce(reported.passives, 0) as reported_passives,
        coalesce(recomputed.passives, 0) as recomputed_passives,
        coalesce(reported.detractors, 0) as reported_detractors,
        coalesce(recomputed.detractors, 0) as recomputed_detractors

    from reported
    left join recomputed
        on
            reported.form_uuid = recomputed.form_uuid
            and reported.report_day = recomputed.response_day

),

final as (

    select * from compared
    where
        {%- if partials_loaded %}
            recomputed_responses != reported_responses
            or recomputed_promoters != reported_promoters
            or recomputed_passives != reported_passives
            or recomputed_detractors != reported_detractors
            or (
                reported_responses > 0
                and abs(recomputed_nps - reported_nps) > 0.5 + 1e-9
            )
        {%- else %}
            recomputed_responses > reported_responses
            or recomputed_promoters > reported_promoters
            or recomputed_passives > reported_passives
            or recomputed_detractors > reported_detractors
        {%- endif %}

)

select * from final
