"""Forecasts in the user's units: from a trained model (predict), and the naive and statistical baselines."""
