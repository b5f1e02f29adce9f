"""core.learning"""
