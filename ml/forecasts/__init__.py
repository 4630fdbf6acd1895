"""D3: percentile forecasts of portfolio equity, issued walk-forward and stored for evaluation."""
