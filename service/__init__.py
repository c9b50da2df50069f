"""HTTP service that loads an exported forecasting SavedModel and serves forecasts."""
