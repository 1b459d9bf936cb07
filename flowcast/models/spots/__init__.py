"""The intra-day scenic-spot forecaster: features, LightGBM model, training, its model directory."""
