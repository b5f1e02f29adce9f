"""core.features"""
