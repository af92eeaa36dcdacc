"""Runs the benchmarks and prints their figures (`make bench`; `--quick` for a smaller run)."""

import argparse
import os
import warnings

# Dagster flags some parameters the platform relies on (backfill policies, data versions) as beta.
warnings.filterwarnings("ignore", message=".*currently in beta")

from bench import (  # noqa: E402 - after the warning filter
    automation,
    card_precision,
    daemon,
    demo,
    features,
    lake,
    scoring,
    serving,
    simulator,
    stream,
    training,
)

SUITES = {
    "simulator": simulator.main,
    "lake": lake.main,
    "demo": demo.main,
    "features": features.main,
    "scoring": scoring.main,
    "training": training.main,
    "card_precision": card_precision.main,
    "serving": serving.main,
    "stream": stream.main,
    "automation": automation.main,
    "daemon": daemon.main,
}

if __name__ == "__main__":
    os.environ.setdefault("DO_NOT_TRACK", "1")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"any of {', '.join(SUITES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    unknown = sorted(set(args.suites) - set(SUITES))
    if unknown:
        parser.error(f"unknown suites {unknown}; choose from {list(SUITES)}")
    for name in args.suites or SUITES:
        print(f"\n=== {name} ===", flush=True)
        SUITES[name](quick=args.quick)
