{#
    The rows of the batch relation `batch` and of the webhook relation `webhook` as one set of
    versions: the shared `columns`, then `version_origin` ('batch' or 'webhook'),
    `webhook_delivery_id` (null on batch rows), `spooled_at` when `with_spooled_at`, and
    `_dlt_load_id`. `webhook_filter`, when given, is a condition on the webhook rows.
#}
{% macro batch_and_webhook_versions(
    columns, batch, webhook, with_spooled_at=false, webhook_filter=none
) -%}
    select
        {{ columns | join(',\n        ') }},
        'batch' as version_origin,
        cast(null as varchar) as webhook_delivery_id,
        {% if with_spooled_at %}
            cast(null as timestamp with time zone) as spooled_at,
        {% endif %}
        _dlt_load_id

    from {{ batch }}

    union all

    select
        {{ columns | join(',\n        ') }},
        'webhook' as version_origin,
        delivery_id as webhook_delivery_id,
        {% if with_spooled_at %}
            spooled_at,
        {% endif %}
        _dlt_load_id

    from {{ webhook }}
    {%- if webhook_filter %}
    where {{ webhook_filter }}
    {%- endif %}
{%- endmacro %}


{#
    The rows of `versions` (child rows of batch and webhook versions) that belong to the parent
    version `kept` keeps for the same `key`: same origin and, for webhook rows, same delivery.
#}
{% macro rows_of_kept_versions(versions, kept, key) -%}
    select {{ versions }}.*

    from {{ versions }}
    inner join {{ kept }}
        on
            {{ versions }}.{{ key }} = {{ kept }}.{{ key }}
            and {{ versions }}.version_origin = {{ kept }}.version_origin
            and coalesce({{ versions }}.webhook_delivery_id, '')
            = coalesce({{ kept }}.webhook_delivery_id, '')
{%- endmacro %}
