"""core.portfolio"""
