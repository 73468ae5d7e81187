{#
    A `webhook_*` table that `refiner listen` appends to. Until the receiver first flushes,
    the table does not exist; then this is an empty relation with the columns of the batch
    table `like` plus the webhook columns, so the staging unions build either way.
    Outside execution (parsing, linting) it is the source itself.
#}
{% macro webhook_source(table_name, like) -%}
    {%- set relation = source('refiner', table_name) -%}
    {%- if execute and adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) is none -%}
        (
            select
                *,
                cast(null as varchar) as delivery_id,
                cast(null as timestamp with time zone) as spooled_at
            from {{ source('refiner', like) }}
            where false
        ) as {{ table_name }}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#
    The responses `refiner load` keeps for its `include` setting (var responses_include), so
    webhook versions of views and partials do not appear when the load skips them.
#}
{% macro included_responses() -%}
    {%- set include = var('responses_include') -%}
    {%- if include == 'completed' -%}
        completed_at is not null
    {%- elif include == 'partials' -%}
        first_data_reception_at is not null
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
