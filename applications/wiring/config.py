"""Layered configuration: defaults < TOML file < environment (.env) < CLI flags.

Config objects are frozen attrs classes (their defaults are the first layer). A TOML
file and ``SENSEQUANT_<SECTION>__<FIELD>`` environment variables override them; CLI
flags are applied last by the command. Validation errors name the source and the key.
Secrets are never printed: ``redact`` masks any key that looks like one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
from dotenv import dotenv_values

from core.errors import ConfigError
from core.events.codec import converter

T = TypeVar("T")

ENV_PREFIX = "SENSEQUANT_"
SECRET_MARKERS = ("secret", "token", "password", "api_key", "apikey", "bearer", "session")


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML config file with an error that names the file and the line."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing --config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
                          "save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None


def environment_layer(environ: Mapping[str, str] | None = None, dotenv_path: Path | None = None,
                      prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """``SENSEQUANT_RISK__MAX_GROSS_EXPOSURE=0.8`` -> ``{"risk": {"max_gross_exposure": "0.8"}}``.

    A ``.env`` file is read first; the real environment wins over it.
    """
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    out: dict[str, Any] = {}
    for key, value in merged.items():
        if not key.startswith(prefix):
            continue
        path = key[len(prefix):].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_scalar(value)
    return out


def _parse_scalar(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.startswith("[") or text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


# Declared range of every numeric setting, by dotted path (fnmatch patterns, first match
# wins): (minimum, maximum, minimum excluded, maximum excluded). Every numeric setting must
# also be finite. Booleans are strict: only true/false (TOML) or true/false/yes/no/on/off
# (environment) — never a number, and a number is never a boolean.
_WINDOW = (1, 100_000, False, False)
_RATE = (0.0, 1.0, False, True)
_SHARE = (0.0, 1.0, False, False)
_POSITIVE_SHARE = (0.0, 1.0, True, False)
_MULTIPLE = (0.0, 100.0, True, False)
_PAISE = (0, 10**15, False, False)
SETTING_BOUNDS: list[tuple[str, tuple[float, float, bool, bool]]] = [
    ("seed", (0, 2**32 - 1, False, False)),
    ("*.seed", (0, 2**32 - 1, False, False)),
    ("event_batch_size", (1, 1_000_000, False, False)),
    ("*.initial_cash_rupees", (0, 10**12, True, False)),
    ("reference.quantity", (1, 10**9, False, False)),
    ("reference.fast", _WINDOW), ("reference.slow", _WINDOW),
    ("*_period", _WINDOW), ("*.ema_fast", _WINDOW), ("*.ema_slow", _WINDOW), ("*.sma_fast", _WINDOW),
    ("*.sma_slow", _WINDOW), ("*hold_sessions", _WINDOW), ("*.lookback_days", (1, 3650, False, False)),
    ("*.rsi_*", (0.0, 100.0, False, False)),
    ("*.weight*", _SHARE), ("*.min_confidence", _SHARE),
    ("*.stops.stop_loss", _MULTIPLE), ("*.stops.take_profit", _MULTIPLE),
    ("*_atr", (0.0, 100.0, False, False)), ("*.trend_scale", (0.0, 100.0, False, False)),
    ("gate.suppress_long_below", (-1.0, 1.0, False, False)), ("gate.boost_above", (-1.0, 1.0, False, False)),
    ("gate.boost_factor", (0.0, 10.0, False, False)),
    ("costs.*_paise", _PAISE), ("costs.*rate", _RATE),
    ("reference.commission_rate", _RATE),
    ("risk.max_gross_exposure", (0.0, 10.0, True, False)), ("risk.max_position_fraction", _POSITIVE_SHARE),
    ("risk.daily_loss_cap", _POSITIVE_SHARE), ("risk.*_atr_multiple", _MULTIPLE),
    ("sizing.notional_paise", (0, 10**15, True, False)), ("sizing.fraction", _POSITIVE_SHARE),
    ("sizing.kelly_cap", _POSITIVE_SHARE), ("sizing.atr_risk_fraction", _POSITIVE_SHARE),
    ("sizing.atr_multiple", _MULTIPLE), ("sizing.max_notional_fraction", (0.0, 10.0, True, False)),
    ("slippage.bps", (0.0, 10_000.0, False, True)),
    ("telemetry.sample_rate", _SHARE), ("telemetry.min_seconds_between", (0.0, 86_400.0, False, False)),
    ("telemetry.*_threshold_pct", (0.0, 100.0, False, False)),
]


def bounds_of(path: str) -> tuple[float, float, bool, bool] | None:
    """The declared range of the setting at dotted ``path`` (None: only finiteness is required)."""
    from fnmatch import fnmatchcase
    for pattern, bounds in SETTING_BOUNDS:
        if fnmatchcase(path, pattern):
            return bounds
    return None


def _describe_range(bounds: tuple[float, float, bool, bool]) -> str:
    lo, hi, lo_open, hi_open = bounds
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def check_layer(defaults: Mapping[str, Any], layer: Mapping[str, Any], source: Any, prefix: tuple[str, ...] = ()
                ) -> None:
    """Refuse, naming setting, source and allowed range, any out-of-range, non-finite or mistyped value.

    ``source(path)`` describes where the value at ``path`` came from (file key, env var, flag).
    """
    import math
    for key, value in layer.items():
        path = (*prefix, key)
        default = defaults.get(key) if isinstance(defaults, Mapping) else None
        if isinstance(value, Mapping) and isinstance(default, Mapping):
            check_layer(default, value, source, path)
            continue
        dotted = ".".join(path)
        where = source(path) if callable(source) else str(source)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"setting {dotted} = {value!r} from {where} must be true or false")
            continue
        if isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"setting {dotted} = {value!r} from {where} must be a number"
                                  + (f" in {_describe_range(b)}" if (b := bounds_of(dotted)) else ""))
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"setting {dotted} = {value!r} from {where} must be a finite number"
                                  + (f" in {_describe_range(b)}" if (b := bounds_of(dotted)) else ""))
            if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"setting {dotted} = {value!r} from {where} must be a whole number")
            bounds = bounds_of(dotted)
            if bounds is not None:
                lo, hi, lo_open, hi_open = bounds
                if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
                    raise ConfigError(f"setting {dotted} = {value!r} from {where} is out of range; allowed: "
                                      f"{_describe_range(bounds)}")


def build_config(cls: type[T], *layers: Mapping[str, Any], source: str = "configuration",
                 sources: list[Any] | None = None) -> T:
    """Merge ``layers`` over the class defaults and structure them into ``cls``.

    Unknown keys are errors (a typo must not be silently ignored); so is any value outside
    its declared range (``SETTING_BOUNDS``), naming ``sources[i](path)`` for layer ``i``.
    """
    merged: dict[str, Any] = converter.unstructure(cls())  # type: ignore[call-arg]
    defaults = merged
    for index, layer in enumerate(layers):
        _reject_unknown(cls, layer, prefix="")
        check_layer(defaults, layer, sources[index] if sources and index < len(sources) else source)
        merged = _deep_merge(merged, layer)
    try:
        return converter.structure(merged, cls)
    except cattrs.BaseValidationError as exc:
        messages = "; ".join(_flatten_cattrs(exc))
        raise ConfigError(f"invalid {source}: {messages}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid {source}: {exc}") from None


def _flatten_cattrs(exc: BaseException) -> list[str]:
    notes = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
    return list(notes)


def _reject_unknown(cls: type, layer: Mapping[str, Any], prefix: str) -> None:
    if not attrs.has(cls):
        return
    fields = {f.name: f for f in attrs.fields(cls)}
    for key, value in layer.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown config key '{prefix}{key}'; known keys here: {known}")
        ftype = fields[key].type
        if isinstance(value, Mapping) and isinstance(ftype, type) and attrs.has(ftype):
            _reject_unknown(ftype, value, prefix=f"{prefix}{key}.")


def config_hash(config: Any) -> str:
    """Stable SHA-256 of a config object's canonical JSON (first 16 hex digits)."""
    payload = json.dumps(converter.unstructure(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def redact(value: Any) -> Any:
    """A copy of a config mapping with every secret-looking value masked."""
    if isinstance(value, Mapping):
        return {k: ("***" if any(m in str(k).lower() for m in SECRET_MARKERS) and v not in (None, "")
                    else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
