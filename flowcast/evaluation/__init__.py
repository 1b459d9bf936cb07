"""How good the forecasts are: backtests, replays through the engine, metrics, reports, the
training run.
"""
