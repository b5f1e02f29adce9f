"""In-process adapters (event store) for tests, tools and short-lived runs."""

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.feed import InMemoryFeed

__all__ = ["InMemoryEventStore", "InMemoryFeed"]
