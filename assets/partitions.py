"""The platform's partitions, defined once and imported everywhere."""

from dagster import DailyPartitionsDefinition

# The published dataset starts on 2018-04-01; later days are valid partitions too.
DAILY = DailyPartitionsDefinition(start_date="2018-04-01")
