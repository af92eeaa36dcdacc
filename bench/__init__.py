"""Benchmarks that print figures: `python -m bench [simulator|lake|demo] [--quick]`."""
