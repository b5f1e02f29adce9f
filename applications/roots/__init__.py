"""Composition roots, one per mode: each builds adapters (through applications.wiring) and
hands them to the services. Roots never import each other."""
