"""Use cases shared by the composition roots: book planning, the backtest and trading-session
loops, run summaries and the learning chain. None imports a root or the CLI."""
