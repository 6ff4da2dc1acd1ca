"""lstmcast: LSTM forecasts for financial time series that you can look inside."""

__version__ = "0.2.0"
