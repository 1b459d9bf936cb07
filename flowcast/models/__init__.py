"""Datasets (xarray on disk), forecasters, baselines, training, backtests and metrics."""
