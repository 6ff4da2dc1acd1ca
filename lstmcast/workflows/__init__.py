"""One module per command: the only place that wires config, data, models, training, forecasting, introspection,
evaluation, runs and outputs together. No typer, no rich, no printing; no workflow imports another."""
