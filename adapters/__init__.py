"""Adapters: one package per technology, plugged into the ports. They never import each other."""
