"""Events: the catalog, the envelopes and the codec. Importing this registers every type."""

from core.events.base import (
    Event,
    NewEvent,
    RecordedEvent,
    RunInfo,
    RunStatus,
    event_class,
    event_type,
    registered_event_types,
)
from core.events.catalog import *  # noqa: F401,F403  (registers every event type)
from core.events.catalog import __dict__ as _catalog
from core.events.release import *  # noqa: F401,F403  (release audit, deployment, rollback)
from core.events.monitoring import *  # noqa: F401,F403  (registers the monitoring event types)
from core.events.account import *  # noqa: F401,F403  (paper/live account events)
from core.events.optimization import *  # noqa: F401,F403  (optimisation study events)
from core.events.safety import *  # noqa: F401,F403  (registers the safety events)
from core.events.codec import converter, decode_payload, encode_payload, to_payload, upcast

__all__ = [
    "Event", "NewEvent", "RecordedEvent", "RunInfo", "RunStatus", "event_class", "event_type",
    "registered_event_types", "converter", "decode_payload", "encode_payload", "to_payload", "upcast",
    *[name for name, obj in _catalog.items() if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event],
]
