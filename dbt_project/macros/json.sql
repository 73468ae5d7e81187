{#
    Cross-database JSON helpers. dlt stores `json` columns as JSON on DuckDB and jsonb on
    PostgreSQL, so extraction and array expansion need one implementation per adapter.
#}

{% macro json_text(json_expr, key) -%}
    {{ return(adapter.dispatch('json_text', 'refiner')(json_expr, key)) }}
{%- endmacro %}

{% macro default__json_text(json_expr, key) -%}
    ({{ json_expr }} ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(json_expr, key) -%}
    json_extract_string({{ json_expr }}, '$.{{ key }}')
{%- endmacro %}


{#
    A lateral join that yields one row per element of the JSON array at `json_expr` -> `key`,
    exposed as `<alias>.value`. Rows whose value is missing or not an array yield no elements.
#}
{% macro join_json_array_elements(json_expr, key, alias) -%}
    {{ return(adapter.dispatch('join_json_array_elements', 'refiner')(json_expr, key, alias)) }}
{%- endmacro %}

{% macro postgres__join_json_array_elements(json_expr, key, alias) -%}
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof({{ json_expr }} -> '{{ key }}') = 'array'
                then {{ json_expr }} -> '{{ key }}'
            else '[]'::jsonb
        end
    ) as {{ alias }} (value)
{%- endmacro %}

{% macro duckdb__join_json_array_elements(json_expr, key, alias) -%}
    cross join lateral json_each(
        case
            when json_type({{ json_expr }}, '$.{{ key }}') = 'ARRAY'
                then json_extract({{ json_expr }}, '$.{{ key }}')
            else cast('[]' as json)
        end
    ) as {{ alias }}
{%- endmacro %}
