"""Analytics: every published or registered post tracked as a metrics time series, refreshed by tier, with
derived numbers, forecasts, reports, CSV and charts."""
