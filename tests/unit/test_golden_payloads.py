"""Golden payloads: every event type and version has a stored payload that must still decode.

For each registered type the current version's payload in ``tests/golden/<type>.v<N>.json``
must decode and re-encode to exactly the same canonical JSON bytes; every older version
of the type must have its golden file too, and it must upcast to the current version.
A changed event therefore fails here until its version is bumped, an upcaster added and
a new golden payload written (``core/events/codec.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from core.events import registered_event_types
from core.events.codec import decode_payload, encode_payload, upcast

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TYPES = registered_event_types()


def canonical(payload: dict) -> str:
    """The codec's canonical JSON form (sorted keys, no whitespace, UTF-8 as is)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def load(type_name: str, version: int) -> dict:
    path = GOLDEN / f"{type_name}.v{version}.json"
    assert path.exists(), (
        f"missing golden payload {path.relative_to(GOLDEN.parent.parent)}: write "
        f'{{"type": "{type_name}", "version": {version}, "payload": {{...every field...}}}}')
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {"type", "version", "payload"}, f"{path.name}: keys must be type, version, payload"
    assert (doc["type"], doc["version"]) == (type_name, version), f"{path.name}: type/version differ from the name"
    return doc["payload"]


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_current_version_round_trips_byte_for_byte(type_name):
    cls = TYPES[type_name]
    payload = load(type_name, cls.VERSION)
    assert set(payload) == {f.name for f in attrs.fields(cls)}, (
        f"{type_name} v{cls.VERSION}: the golden payload must hold every field of {cls.__name__}")
    event = decode_payload(type_name, cls.VERSION, canonical(payload))
    assert type(event) is cls
    assert encode_payload(event) == canonical(payload)


@pytest.mark.parametrize("type_name,version", sorted(
    (name, v) for name, cls in TYPES.items() for v in range(1, cls.VERSION)))
def test_old_versions_upcast_to_the_current_version(type_name, version):
    cls = TYPES[type_name]
    payload = load(type_name, version)
    lifted = upcast(type_name, version, dict(payload))
    assert set(lifted) == {f.name for f in attrs.fields(cls)}, f"{type_name} v{version} upcasts to other fields"
    event = decode_payload(type_name, version, canonical(payload))
    assert type(event) is cls
    assert encode_payload(event) == canonical(lifted)
    # What the old payload kept is unchanged by upcasting.
    assert {k: v for k, v in json.loads(encode_payload(event)).items() if k in payload} == payload


def test_no_stale_golden_files():
    for path in sorted(GOLDEN.glob("*.json")):
        type_name, _, rest = path.name.rpartition(".v")
        assert type_name in TYPES, f"{path.name}: no registered event type {type_name!r}"
        version = int(rest.removesuffix(".json"))
        assert 1 <= version <= TYPES[type_name].VERSION, f"{path.name}: version newer than the code's"


def test_prediction_traced_v1_gains_empty_signals_and_context():
    event = decode_payload("prediction.traced", 1, canonical(load("prediction.traced", 1)))
    assert (event.signals, event.context) == ({}, {})
