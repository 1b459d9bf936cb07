"""The days-ahead arrivals model: daily series, features, boosters per horizon, its model
directory.
"""
