"""The backtest of the direction signals (BacktestService batch side)."""
