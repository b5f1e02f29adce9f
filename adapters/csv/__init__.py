"""adapters.csv"""
