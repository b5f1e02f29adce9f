"""adapters.sql"""
