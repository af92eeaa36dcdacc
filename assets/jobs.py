"""The platform's jobs: what a sensor, the demo or `mlplatform` launches, by asset group."""

from dagster import AssetSelection, define_asset_job

# Every daily asset of a day: raw sources, dbt models, features (which read their history from the lake) and
# the online store's changes.
daily_job = define_asset_job("daily", selection=AssetSelection.groups("raw", "staged", "marts", "features", "online"))
training_job = define_asset_job("training", selection=AssetSelection.groups("training"))
# One run per week (the model asset's backfill policy), so a refused challenger blocks only its own week.
models_job = define_asset_job("models", selection=AssetSelection.groups("models"))
predictions_job = define_asset_job("predictions", selection=AssetSelection.groups("predictions"))
serving_job = define_asset_job("serving", selection=AssetSelection.groups("serving"))
# Feature drift and model performance of scored days (a day's performance again as its chargebacks arrive).
monitoring_job = define_asset_job("monitoring", selection=AssetSelection.groups("monitoring"))

JOBS = [daily_job, training_job, models_job, predictions_job, serving_job, monitoring_job]
