"""lstmcast: LSTM forecasts for financial time series that you can look inside."""

__version__ = "0.7.1"


def __getattr__(name: str):
    """lstmcast.train, lstmcast.load and lstmcast.Model, imported on first use (PEP 562) so that `import lstmcast`
    and `lstmcast --help` stay light."""
    if name in ("train", "load", "Model"):
        from lstmcast import api

        return getattr(api, name)
    raise AttributeError(f"module 'lstmcast' has no attribute {name!r}")
