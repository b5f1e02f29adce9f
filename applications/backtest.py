"""applications.backtest"""
