"""Per-source declarations: which timezone naive timestamps are in and how bars are labelled.

A data directory may hold a ``sources.toml`` sidecar::

    [defaults]                 # optional; for files no [[source]] entry matches
    timezone = "Asia/Kolkata"
    label = "start"

    [[source]]                 # first matching entry wins
    glob = "NIFTY50_1minute.csv*"
    timezone = "Asia/Kolkata"  # applies to naive timestamps only; aware ones carry their offset
    label = "end"              # "start": stamped at the bar's opening minute, "end": at its close
    origin = "..."             # free text (provenance, licence); ignored by the loader

Globs are matched against the file's path relative to the directory holding the manifest
(``/`` separators), e.g. ``"NIFTY50/1minute/*.csv.gz"`` or ``"*_1day.csv.gz"``.

Precedence for one file: its ``[[source]]`` entry > the feed's constructor arguments / CLI
flags > the manifest's ``[defaults]`` > built-in defaults (Asia/Kolkata, bar start).
The per-file entry wins because it is a fact about that file; flags fill in what no file
declares.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from core.errors import ConfigError

MANIFEST_NAME = "sources.toml"
DEFAULT_TIMEZONE = "Asia/Kolkata"
DEFAULT_LABEL = "start"
LABELS = ("start", "end")


def check_timezone(name: str, where: str) -> str:
    """Return ``name`` if it is a known IANA zone, else raise ``ConfigError`` naming ``where``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown timezone {name!r}; use an IANA name such as "
                          f"'Asia/Kolkata' or 'UTC'") from None
    return name


def check_label(label: str, where: str) -> str:
    """Return ``label`` lower-cased if it is ``start`` or ``end``, else raise ``ConfigError``."""
    value = str(label).strip().lower()
    if value not in LABELS:
        raise ConfigError(f"{where}: bar label must be 'start' or 'end', got {label!r}")
    return value


@attrs.frozen(kw_only=True)
class SourceSpec:
    """Effective reading settings for one file, and where each came from."""

    timezone: str
    label: str
    origin: str = ""
    declared_by: str = "default"  # "manifest:<glob>", "constructor", "manifest-defaults", "default"

    def to_dict(self) -> dict[str, str]:
        return {"timezone": self.timezone, "label": self.label, "declared_by": self.declared_by}


@attrs.frozen(kw_only=True)
class SourceEntry:
    glob: str
    timezone: str | None
    label: str | None
    origin: str


@attrs.frozen(kw_only=True)
class Manifest:
    """A parsed ``sources.toml`` (possibly empty) for one directory."""

    base: Path
    path: Path | None
    defaults_timezone: str | None = None
    defaults_label: str | None = None
    entries: tuple[SourceEntry, ...] = ()

    @classmethod
    def empty(cls, base: Path) -> "Manifest":
        return cls(base=base, path=None)

    @classmethod
    def load(cls, directory: Path) -> "Manifest":
        """Read ``directory/sources.toml`` if it exists, else an empty manifest."""
        path = directory / MANIFEST_NAME
        if not path.is_file():
            return cls.empty(directory)
        try:
            with path.open("rb") as fh:
                doc = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        return cls._from_doc(directory, path, doc)

    @classmethod
    def _from_doc(cls, base: Path, path: Path, doc: dict[str, Any]) -> "Manifest":
        unknown = set(doc) - {"defaults", "source"}
        if unknown:
            raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; allowed: [defaults], [[source]]")
        defaults = doc.get("defaults", {})
        if not isinstance(defaults, dict):
            raise ConfigError(f"{path}: [defaults] must be a table")
        bad = set(defaults) - {"timezone", "label"}
        if bad:
            raise ConfigError(f"{path}: [defaults] has unknown key(s) {sorted(bad)}; allowed: timezone, label")
        d_tz = defaults.get("timezone")
        d_label = defaults.get("label")
        if d_tz is not None:
            check_timezone(d_tz, f"{path} [defaults].timezone")
        if d_label is not None:
            d_label = check_label(d_label, f"{path} [defaults].label")
        entries = []
        raw = doc.get("source", [])
        if not isinstance(raw, list):
            raise ConfigError(f"{path}: sources must be declared as [[source]] tables")
        for i, item in enumerate(raw, start=1):
            where = f"{path} [[source]] #{i}"
            if not isinstance(item, dict) or "glob" not in item:
                raise ConfigError(f"{where}: every [[source]] needs a 'glob' key (e.g. glob = \"*_1day.csv.gz\")")
            bad = set(item) - {"glob", "timezone", "label", "origin"}
            if bad:
                raise ConfigError(f"{where}: unknown key(s) {sorted(bad)}; allowed: glob, timezone, label, origin")
            tz = item.get("timezone")
            if tz is not None:
                check_timezone(tz, f"{where}.timezone")
            label = item.get("label")
            if label is not None:
                label = check_label(label, f"{where}.label")
            entries.append(SourceEntry(glob=str(item["glob"]), timezone=tz, label=label,
                                       origin=str(item.get("origin", ""))))
        return cls(base=base, path=path, defaults_timezone=d_tz, defaults_label=d_label,
                   entries=tuple(entries))

    def entry_for(self, file: Path) -> SourceEntry | None:
        try:
            rel = file.resolve().relative_to(self.base.resolve()).as_posix()
        except ValueError:
            rel = file.name
        for entry in self.entries:
            if fnmatch.fnmatchcase(rel, entry.glob) or fnmatch.fnmatchcase(file.name, entry.glob):
                return entry
        return None

    def resolve(self, file: Path, *, timezone: str | None = None, label: str | None = None) -> SourceSpec:
        """Effective settings for ``file``; ``timezone``/``label`` are the caller's declarations."""
        entry = self.entry_for(file)
        tz_value, tz_by = DEFAULT_TIMEZONE, "default"
        label_value, label_by = DEFAULT_LABEL, "default"
        if self.defaults_timezone is not None:
            tz_value, tz_by = self.defaults_timezone, "manifest-defaults"
        if self.defaults_label is not None:
            label_value, label_by = self.defaults_label, "manifest-defaults"
        if timezone is not None:
            tz_value, tz_by = timezone, "constructor"
        if label is not None:
            label_value, label_by = label, "constructor"
        origin = ""
        if entry is not None:
            origin = entry.origin
            if entry.timezone is not None:
                tz_value, tz_by = entry.timezone, f"manifest:{entry.glob}"
            if entry.label is not None:
                label_value, label_by = entry.label, f"manifest:{entry.glob}"
        by = tz_by if tz_by == label_by else f"timezone={tz_by}, label={label_by}"
        return SourceSpec(timezone=tz_value, label=label_value, origin=origin, declared_by=by)

    def describe(self) -> dict[str, Any]:
        return {
            "path": None if self.path is None else str(self.path),
            "defaults": {"timezone": self.defaults_timezone, "label": self.defaults_label},
            "sources": [{"glob": e.glob, "timezone": e.timezone, "label": e.label} for e in self.entries],
        }
