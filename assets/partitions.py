"""The platform's partitions, defined once and imported everywhere."""

from dagster import DailyPartitionsDefinition, WeeklyPartitionsDefinition

# The published dataset starts on 2018-04-01; later days are valid partitions too.
DAILY = DailyPartitionsDefinition(start_date="2018-04-01")

# Training sets and models: one per week, keyed by the training window's first day (a Wednesday,
# so the evaluation protocol's reference split, training from 2018-07-25, is a partition).
TRAINING_WEEKS = WeeklyPartitionsDefinition(start_date="2018-04-04", day_offset=3)
