"""Scoring forecasts: metrics (metrics), significance tests (significance), and the walk-forward schedule and scores
of a backtest (backtest). numpy, scipy and pandas only: never torch, so it is fast to import and reusable on any
forecasts file."""
