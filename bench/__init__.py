"""Benchmark of the forecasting model and the HTTP service: `make bench` or `python -m bench`."""
