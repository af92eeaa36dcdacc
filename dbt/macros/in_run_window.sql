{#- True for rows of the run's partition window [var('start'), var('end')). -#}
{% macro in_run_window(column='partition_date') -%}
{{ column }} >= cast('{{ var("start") }}' as date) and {{ column }} < cast('{{ var("end") }}' as date)
{%- endmacro %}
