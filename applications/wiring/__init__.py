"""Configuration (layered settings) and the construction of adapters: the one place a concrete
store, feed, broker or sentiment provider is built from settings."""
