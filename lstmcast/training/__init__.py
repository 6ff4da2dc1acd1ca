"""The one path from a config and prepared data to a fitted model (fit), the plain loop it runs (loop), where it runs
(device), and the resumable state it saves (checkpoint)."""
