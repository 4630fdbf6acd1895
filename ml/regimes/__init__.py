"""D2: market regimes from the market-level feature mart, persisted to MongoDB (and DuckDB)."""
