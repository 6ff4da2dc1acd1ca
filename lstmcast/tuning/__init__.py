"""Hyperparameter sweeps on Optuna: the study and its storage, sampling a config's search space, the leaderboard."""
