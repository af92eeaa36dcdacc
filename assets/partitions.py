"""The platform's partitions, defined once and imported everywhere."""

from dagster import DailyPartitionsDefinition, TimeWindowPartitionMapping, WeeklyPartitionsDefinition

from mlplatform.features.definitions import FRAUD

# The published dataset starts on 2018-04-01; later days are valid partitions too.
DAILY = DailyPartitionsDefinition(start_date="2018-04-01")

# Training sets and models: one per week, keyed by the training window's first day (a Wednesday,
# so the evaluation protocol's reference split, training from 2018-07-25, is a partition).
TRAINING_WEEKS = WeeklyPartitionsDefinition(start_date="2018-04-04", day_offset=3)

# A day's features read its own partition and the feature set's history before it, whatever else a run computes.
WITH_HISTORY = TimeWindowPartitionMapping(start_offset=-FRAUD.history.days, allow_nonexistent_upstream_partitions=True)
