{#
    The UTC calendar day of a timestamptz, whatever the session time zone is.
    Refiner reports by UTC day, so every daily mart groups on this.
#}
{% macro utc_date(timestamp_expr) -%}
    {{ return(adapter.dispatch('utc_date', 'refiner')(timestamp_expr)) }}
{%- endmacro %}

{% macro default__utc_date(timestamp_expr) -%}
    cast(({{ timestamp_expr }} at time zone 'UTC') as date)
{%- endmacro %}

{% macro duckdb__utc_date(timestamp_expr) -%}
    cast(timezone('UTC', {{ timestamp_expr }}) as date)
{%- endmacro %}
