"""core.config"""
