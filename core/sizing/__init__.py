"""core.sizing"""
