{#- Fails with one row per PII column (name, email, card_number) found in the model. -#}
{% test no_pii_columns(model) %}
select column_name
from information_schema.columns
where table_schema = '{{ model.schema }}'
  and table_name = '{{ model.identifier }}'
  and lower(column_name) in ('name', 'email', 'card_number')
{% endtest %}
