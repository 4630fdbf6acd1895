"""Models trained on the feature marts: signals (D1) now; regimes (D2) and forecasts (D3) next."""
