"""The one cattrs converter that encodes and decodes every event, plus upcasting.

Payloads are canonical JSON (sorted keys, no whitespace, no NaN) so that the same
event always encodes to the same bytes: a backtest's event payloads can be hashed and
compared across runs. Datetimes are stored as ISO-8601 in UTC.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from typing import Any, Callable

import cattrs

from core.errors import UnknownEventTypeError
from core.events.base import Event, event_class

converter = cattrs.Converter()


def _unstructure_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"cannot encode naive datetime {value!r}: events carry tz-aware times")
    return value.astimezone(timezone.utc).isoformat()


def _structure_datetime(value: Any, _type: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"stored datetime {value!r} has no timezone")
    return parsed.astimezone(timezone.utc)


converter.register_unstructure_hook(datetime, _unstructure_datetime)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(date, lambda d: d.isoformat())
converter.register_structure_hook(date, lambda v, _t: v if isinstance(v, date) else date.fromisoformat(v))
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_structure_hook(uuid.UUID, lambda v, _t: v if isinstance(v, uuid.UUID) else uuid.UUID(v))
# Free-form dict values (features, context, metadata) are already JSON-ready.
converter.register_structure_hook(Any, lambda v, _t: v)

_JSON_READY_DICTS = {dict[str, Any], dict[str, float], dict[str, int], dict[str, dict[str, int]]}


def _json_ready_dict(value: dict) -> dict:
    # These dicts hold JSON scalars/containers already (the catalog's contract); handing
    # them to the encoder as they are avoids a dispatch per key and value, the bulk of
    # the cost of encoding a prediction trace.
    return value


converter.register_unstructure_hook_func(lambda t: t in _JSON_READY_DICTS, _json_ready_dict)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# (type, from_version) -> function producing the payload of from_version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the step that lifts ``type_name`` payloads from ``from_version`` by one."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


@upcaster("prediction.traced", 1)
def _prediction_traced_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # v1 (telemetry spec 000) had no signals/context; 004 added them at entry time.
    return {**payload, "signals": {}, "context": {}}


@upcaster("order.submitted", 1)
def _order_submitted_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # v1 did not record the decision price; execution quality reports it as unknown.
    return {**payload, "decision_price_paise": None}


def upcast(type_name: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Lift a stored payload to the current version of its type, one step at a time."""
    cls = event_class(type_name)
    if version > cls.VERSION:
        raise UnknownEventTypeError(
            f"{type_name} v{version} is newer than this build's v{cls.VERSION}; upgrade SenseQuant"
        )
    while version < cls.VERSION:
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise UnknownEventTypeError(f"no upcaster for {type_name} v{version} -> v{version + 1}")
        payload = step(payload)
        version += 1
    return payload


# One encoder object (json.dumps with options builds a new one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def to_payload(event: Event) -> dict[str, Any]:
    """The JSON-ready dict of an event (no type/version: those travel beside it)."""
    return converter.unstructure(event)


def encode_payload(event: Event) -> str:
    """Canonical JSON text of an event's payload."""
    return _CANONICAL.encode(to_payload(event))


def decode_payload(type_name: str, version: int, payload: str | dict[str, Any]) -> Event:
    """Rebuild the current-version event object from a stored payload of any version."""
    data = json.loads(payload) if isinstance(payload, str) else payload
    data = upcast(type_name, version, data)
    return converter.structure(data, event_class(type_name))
