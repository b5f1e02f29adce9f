"""In-process adapters (event store) for tests, tools and short-lived runs."""

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.feed import InMemoryFeed
from adapters.memory.read_models import InMemoryReadModels

__all__ = ["InMemoryEventStore", "InMemoryFeed", "InMemoryReadModels"]
