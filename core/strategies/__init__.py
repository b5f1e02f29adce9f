"""core.strategies"""
