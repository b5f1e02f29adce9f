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


def build_config(cls: type[T], *layers: Mapping[str, Any], source: str = "configuration") -> T:
    """Merge ``layers`` over the class defaults and structure them into ``cls``.

    Unknown keys are errors (a typo must not be silently ignored).
    """
    merged: dict[str, Any] = converter.unstructure(cls())  # type: ignore[call-arg]
    for layer in layers:
        _reject_unknown(cls, layer, prefix="")
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
