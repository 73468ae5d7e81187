{#
    True when `column` matches one of `patterns`: question identifiers or glob patterns
    (`*` any run of characters, `?` one character), as listed in the `nps_questions` and
    `csat_questions` vars. Each glob becomes a LIKE pattern with `%` and `_` escaped, so an
    identifier such as `nps_score` matches itself only. An empty list matches nothing.
#}
{% macro matches_any_pattern(column, patterns) -%}
    {%- if patterns is string -%}
        {%- set patterns = [patterns] -%}
    {%- endif -%}
    {%- if patterns | length == 0 -%}
        false
    {%- else -%}
        (
        {%- for pattern in patterns %}
            {{ column }} like '{{ glob_to_like(pattern) }}' escape '!'
            {%- if not loop.last %} or{% endif %}
        {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{% macro glob_to_like(pattern) -%}
    {{- pattern
        | replace("!", "!!")
        | replace("%", "!%")
        | replace("_", "!_")
        | replace("*", "%")
        | replace("?", "_")
        | replace("'", "''") -}}
{%- endmacro %}
