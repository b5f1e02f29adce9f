"""In-process adapters (event store) for tests, tools and short-lived runs."""

from adapters.memory.event_store import InMemoryEventStore

__all__ = ["InMemoryEventStore"]
