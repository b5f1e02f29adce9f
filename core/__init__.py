"""SenseQuant's pure domain core.

Nothing in this package reads the wall clock, the environment, files or the network:
time arrives through the ``Clock`` port and randomness through seeded generators.
"""
