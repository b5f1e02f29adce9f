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
import msgspec
import orjson

from core.errors import UnknownEventTypeError
from core.events.base import Event, event_class

converter = cattrs.Converter()


# Events of one bar share their times (a fill, its position change, the trade it closes
# and its trace), so recent encodings are remembered. Equal aware datetimes are the same
# instant, hence the same UTC text, whatever their tzinfo.
_RECENT_TIMES: dict[datetime, str] = {}


def _unstructure_datetime(value: datetime) -> str:
    text = _RECENT_TIMES.get(value)
    if text is not None:
        return text
    if value.tzinfo is None:
        raise ValueError(f"cannot encode naive datetime {value!r}: events carry tz-aware times")
    text = value.astimezone(timezone.utc).isoformat()
    if len(_RECENT_TIMES) >= 256:
        _RECENT_TIMES.clear()
    _RECENT_TIMES[value] = text
    return text


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


# The reference canonical encoder: its bytes define a payload. One encoder object
# (json.dumps with options builds a new one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)

# orjson writes the same canonical text about ten times faster, except in cases it
# handles differently; those are detected and re-encoded by the reference encoder:
# - floats below 1e-4 in magnitude: Python writes ``1e-05`` where orjson writes
#   ``0.00001`` or ``1e-5``; the output then contains ``0.0000`` or ``e-`` (two substring
#   tests, far cheaper than a regex; a string holding such text only costs the slower path);
# - NaN and infinities, which orjson writes as null (the reference refuses them), and
#   values orjson writes but the reference cannot or writes otherwise (UUIDs, enums,
#   tuples, subclasses): caught by reading the output back and comparing it with the
#   payload (a NaN never compares equal; a tuple or UUID differs from what is read back);
# - ints beyond 64 bits, non-str keys, lone surrogates: orjson raises.
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _not_plain_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not plain JSON")


def canonical_json(data: Any) -> str:
    """Canonical JSON text of JSON-ready ``data``: byte-identical to ``_CANONICAL.encode``."""
    try:
        out = orjson.dumps(data, default=_not_plain_json, option=_ORJSON_OPTIONS)
    except TypeError:
        return _CANONICAL.encode(data)
    if b"e-" in out or b"0.0000" in out or orjson.loads(out) != data:
        return _CANONICAL.encode(data)
    return out.decode()


def to_payload(event: Event) -> dict[str, Any]:
    """The JSON-ready dict of an event (no type/version: those travel beside it)."""
    return converter.unstructure(event)


def encode_payload(event: Event) -> str:
    """Canonical JSON text of an event's payload."""
    return canonical_json(to_payload(event))


# Reading: msgspec parses exactly what json.loads gives (big integers stay exact ints,
# floats are correctly rounded) several times faster; what it refuses but json.loads
# accepts (NaN/Infinity tokens, numbers beyond float range, lone surrogate escapes)
# goes to json.loads, which decides as before.
_MSGSPEC_DECODER = msgspec.json.Decoder()


def parse_json(text: str) -> Any:
    """``json.loads(text)``, faster."""
    try:
        return _MSGSPEC_DECODER.decode(text)
    except msgspec.MsgspecError:
        return json.loads(text)


def decode_payload(type_name: str, version: int, payload: str | dict[str, Any]) -> Event:
    """Rebuild the current-version event object from a stored payload of any version."""
    data = parse_json(payload) if isinstance(payload, str) else payload
    data = upcast(type_name, version, data)
    return converter.structure(data, event_class(type_name))
