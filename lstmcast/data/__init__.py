"""From a CSV to model-ready tensors: reading and checking (reading, dates), transforms and scalers fitted on
training rows only (transforms, scalers), chronological splits and windows (windows), and the trading calendar."""
