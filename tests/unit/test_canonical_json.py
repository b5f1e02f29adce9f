"""The fast canonical encoder/reader is byte-for-byte the reference (json with sorted keys).

Seeded random payloads (floats of every magnitude and bit pattern, unicode of every
plane, control characters, big ints, nesting) and the golden payloads: the fast path
must give exactly the reference's text, or raise exactly when the reference raises.
"""

from __future__ import annotations

import json
import math
import random
import struct
import uuid
from enum import Enum
from pathlib import Path

import pytest

from core.events.codec import _CANONICAL, canonical_json, parse_json

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def reference(data):
    try:
        return _CANONICAL.encode(data)
    except (TypeError, ValueError, OverflowError) as exc:
        return type(exc)


def fast(data):
    try:
        return canonical_json(data)
    except (TypeError, ValueError, OverflowError) as exc:
        return type(exc)


def random_float(rng: random.Random) -> float:
    pick = rng.random()
    if pick < 0.3:
        return struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]  # any bit pattern, NaN included
    if pick < 0.6:
        return round(rng.uniform(-1e6, 1e6), rng.randint(0, 8))
    if pick < 0.8:
        return rng.choice([1.0, -1.0]) * 10.0 ** rng.uniform(-12, 22)
    return rng.choice([0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e16, 1e15, 5e-324, math.inf, -math.inf, math.nan])


def random_str(rng: random.Random) -> str:
    ranges = [(0, 0x20), (0x20, 0x7F), (0x7F, 0x800), (0x800, 0xD800), (0xE000, 0x10000), (0x10000, 0x110000)]
    chars = []
    for _ in range(rng.randint(0, 12)):
        lo, hi = rng.choice(ranges)
        chars.append(chr(rng.randrange(lo, hi)))
    if rng.random() < 0.1:
        chars.append(rng.choice(["1e-05", "0.00001", '"', "\\", "\u2028"]))
    return "".join(chars)


def random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "bigint", "float", "str", "none", "bool"] + (["list", "dict", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-(2**63), 2**63 - 1) if rng.random() < 0.5 else rng.randint(-1000, 10**12)
    if kind == "bigint":
        return rng.choice([1, -1]) * rng.randint(2**63 - 2, 2**70)
    if kind == "float":
        return random_float(rng)
    if kind == "str":
        return random_str(rng)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {random_str(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}


@pytest.mark.parametrize("seed", range(8))
def test_random_payloads_encode_exactly_as_the_reference(seed):
    rng = random.Random(seed)
    for _ in range(2500):
        data = random_value(rng)
        assert fast(data) == reference(data), repr(data)


def test_every_float_formats_as_the_reference():
    rng = random.Random(99)
    for _ in range(100_000):
        value = random_float(rng)
        assert fast({"v": value}) == reference({"v": value}), repr(value)


class Colour(Enum):
    RED = "red"


@pytest.mark.parametrize("data", [
    {"t": (1, 2)}, {1: "int key"}, {"u": uuid.UUID(int=7)}, {"e": Colour.RED}, {"n": math.nan},
    {"i": math.inf}, {"b": 2**64}, {"s": "\ud800"}, {"f": 1e-7}, {"f": -2.5e-5}, {"x": [1e-5, "0.0000"]}])
def test_values_the_fast_encoder_treats_differently_fall_back_to_the_reference(data):
    try:
        expected = _CANONICAL.encode(data)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            canonical_json(data)
        return
    assert canonical_json(data) == expected


def test_golden_payloads_encode_exactly_as_the_reference():
    files = sorted(GOLDEN.glob("*.json"))
    assert files
    for path in files:
        payload = json.loads(path.read_text(encoding="utf-8"))["payload"]
        assert canonical_json(payload) == _CANONICAL.encode(payload), path.name


@pytest.mark.parametrize("seed", range(4))
def test_reading_gives_the_reference_values_and_types(seed):
    rng = random.Random(1000 + seed)
    for _ in range(2500):
        data = random_value(rng)
        text = reference(data)
        if not isinstance(text, str):
            continue
        # compared through the reference encoder: an int read as a float would print differently
        assert _CANONICAL.encode(parse_json(text)) == _CANONICAL.encode(json.loads(text))
    for text in ['{"big":123456789012345678901234}', '{"n":NaN}', '[-9223372036854775809]', '{"f":1e400}',
                 '["\\ud800"]', '{"a":1,"a":2}']:
        assert repr(parse_json(text)) == repr(json.loads(text))
