"""Composition roots, one per mode, plus the ``sensequant`` command line."""
