"""Agency identity, access control and the certificates behind them."""
