"""core.costs"""
