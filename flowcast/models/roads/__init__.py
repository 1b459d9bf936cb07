"""The road forecaster: feature spec, plan, history and matrices (offline = live), LightGBM model,
training.
"""
