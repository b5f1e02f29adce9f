"""core.risk"""
