"""Looking inside: every layer's h and c at every step, recorded from the model's own nn.LSTM (record), the gates
recomputed from them (gates), checks against the fused call (check), and per-layer summaries (summary)."""
