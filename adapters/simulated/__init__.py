"""adapters.simulated"""
