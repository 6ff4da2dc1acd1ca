"""The LSTM forecasters: nn.Modules only, one forward signature for every kind; they know nothing of data or files."""
