"""A versioned model registry on disk, with SHA-256 integrity, a production pointer and rollback.

Layout under the registry root (default ``data/runs/models``)::

    index.json                  model id -> SHA-256 of its manifest (+ summary)
    production.json             champion, archive of previous champions, history
    versions/<model id>/
        model.txt | model.json  LightGBM text format or linear-model JSON (never pickle)
        metadata.json           features, training window, data fingerprint, metrics, params
        manifest.json           file name -> SHA-256

Every load hashes the manifest (against ``index.json``) and every file (against the
manifest) *before* parsing any of them; a mismatch raises ``ModelIntegrityError``.
A version is written into a temporary folder and renamed into place, and the JSON files
are replaced atomically, so a crash never leaves a half-written model or pointer.
Versions are immutable; promotion moves the pointer and archives the previous champion;
rollback restores the most recently archived champion.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from adapters.ml.models import TrainedModel, model_from_bytes
from core.errors import ModelIntegrityError, ModelNotFoundError, ModelRegistryError

INDEX = "index.json"
PRODUCTION = "production.json"
MANIFEST = "manifest.json"
METADATA = "metadata.json"
VERSIONS = "versions"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _iso(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"registry times must be timezone-aware, got {value!r}")
    return value.astimezone(timezone.utc).isoformat()


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@attrs.frozen(kw_only=True)
class ModelRecord:
    """What the registry knows about one stored model (its ``metadata.json``)."""

    model_id: str
    role: str
    algorithm: str
    file_name: str
    feature_names: tuple[str, ...] = attrs.field(converter=tuple)
    training_window: Mapping[str, str]
    data_fingerprint: str
    metrics: Mapping[str, Any]
    params: Mapping[str, Any]
    label_config: Mapping[str, Any]
    created_at: str
    teacher_model_id: str | None = None
    feature_recipe: Mapping[str, Any] = attrs.Factory(dict)
    extra: Mapping[str, Any] = attrs.Factory(dict)

    def to_dict(self) -> dict[str, Any]:
        d = attrs.asdict(self)
        d["feature_names"] = list(self.feature_names)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelRecord":
        fields = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


@attrs.frozen(kw_only=True)
class ProductionState:
    """The production pointer: current champion, archived champions (oldest first), history."""

    champion: str | None
    promoted_at: str | None
    archive: tuple[Mapping[str, Any], ...]
    history: tuple[Mapping[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"champion": self.champion, "promoted_at": self.promoted_at,
                "archive": [dict(a) for a in self.archive], "history": [dict(h) for h in self.history]}


EMPTY_PRODUCTION = ProductionState(champion=None, promoted_at=None, archive=(), history=())


class ModelRegistry:
    """Registry rooted at ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read_json(self, path: Path, default: Any) -> Any:
        if not path.exists():
            return default
        try:
            return json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelRegistryError(f"{path} is not valid JSON ({exc}); restore it from a backup or "
                                     "remove the registry folder to start afresh") from None

    def _index(self) -> dict[str, Any]:
        return self._read_json(self.root / INDEX, {"models": {}})

    def version_dir(self, model_id: str) -> Path:
        return self.root / VERSIONS / model_id

    # ---------------------------------------------------------------- writing

    def register(self, model: TrainedModel, *, role: str, created_at: datetime,
                 training_window: tuple[datetime, datetime], data_fingerprint: str,
                 metrics: Mapping[str, Any], params: Mapping[str, Any] | None = None,
                 label_config: Mapping[str, Any] | None = None, teacher_model_id: str | None = None,
                 feature_recipe: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> ModelRecord:
        """Store a trained model as a new immutable version and return its record.

        The id is ``<role>-<algorithm>-<created_at UTC>-<first 8 hex of the model file hash>``.
        ``feature_recipe`` (``FeatureRecipe.to_dict()``) tells a predictor how to derive the
        model's inputs from a strategy's raw feature columns.
        """
        model_bytes = model.to_bytes()
        stamp = created_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        model_id = f"{role}-{model.algorithm}-{stamp}-{sha256_bytes(model_bytes)[:8]}"
        record = ModelRecord(
            model_id=model_id, role=role, algorithm=model.algorithm, file_name=model.file_name,
            feature_names=tuple(model.feature_names),
            training_window={"start": _iso(training_window[0]), "end": _iso(training_window[1])},
            data_fingerprint=data_fingerprint, metrics=dict(metrics), params=dict(params or {}),
            label_config=dict(label_config or {}), created_at=_iso(created_at), teacher_model_id=teacher_model_id,
            feature_recipe=dict(feature_recipe or {}), extra=dict(extra or {}))
        metadata_bytes = _dump(record.to_dict())
        files = {model.file_name: model_bytes, METADATA: metadata_bytes}
        manifest_bytes = _dump({"model_id": model_id, "algorithm": model.algorithm,
                                "files": {name: sha256_bytes(data) for name, data in sorted(files.items())}})
        with self._locked():
            index = self._index()
            if model_id in index["models"]:
                raise ModelRegistryError(f"model {model_id} is already registered (same content and time)")
            final = self.version_dir(model_id)
            tmp = final.with_name(f".tmp-{model_id}")
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            for name, data in {**files, MANIFEST: manifest_bytes}.items():
                with open(tmp / name, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            os.rename(tmp, final)
            index["models"][model_id] = {"manifest_sha256": sha256_bytes(manifest_bytes), "role": role,
                                         "algorithm": model.algorithm, "created_at": record.created_at}
            _write_atomic(self.root / INDEX, _dump(index))
        return record

    # ---------------------------------------------------------------- reading

    def model_ids(self) -> list[str]:
        """Every registered id, oldest first (by creation time, then id)."""
        models = self._index()["models"]
        return sorted(models, key=lambda m: (models[m]["created_at"], m))

    def resolve(self, model_id: str) -> str:
        """The full id for an id or a unique prefix; ``ModelNotFoundError`` otherwise."""
        ids = self.model_ids()
        if model_id in ids:
            return model_id
        matches = [m for m in ids if m.startswith(model_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ModelNotFoundError(f"no model {model_id!r} in registry {self.root}; "
                                     "`sensequant models list` shows the registered ids")
        raise ModelNotFoundError(f"model id prefix {model_id!r} is ambiguous ({len(matches)} models); "
                                 "give more characters")

    def _verified_files(self, model_id: str) -> dict[str, bytes]:
        """Read every file of a version and check its hash; nothing is parsed before this passes."""
        entry = self._index()["models"].get(model_id)
        if entry is None:
            raise ModelNotFoundError(f"no model {model_id!r} in registry {self.root}")
        folder = self.version_dir(model_id)
        manifest_path = folder / MANIFEST
        try:
            manifest_bytes = manifest_path.read_bytes()
        except FileNotFoundError:
            raise ModelIntegrityError(f"{manifest_path} is missing; the model folder was altered — "
                                      "re-train the model or restore the folder", path=str(manifest_path)) from None
        if sha256_bytes(manifest_bytes) != entry["manifest_sha256"]:
            raise ModelIntegrityError(f"{manifest_path} does not match the SHA-256 recorded in {self.root / INDEX}; "
                                      "the manifest was altered — refusing to load; re-train or restore the model",
                                      path=str(manifest_path))
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        out: dict[str, bytes] = {}
        for name, expected in manifest["files"].items():
            path = folder / name
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise ModelIntegrityError(f"{path} is missing; refusing to load model {model_id}",
                                          path=str(path)) from None
            actual = sha256_bytes(data)
            if actual != expected:
                raise ModelIntegrityError(
                    f"{path} has SHA-256 {actual[:12]}…, but the manifest records {expected[:12]}…; the file was "
                    f"modified after registration — refusing to load model {model_id}; re-train it or restore "
                    "the original file", path=str(path))
            out[name] = data
        return out

    def verify(self, model_id: str) -> ModelRecord:
        """Check every file of a model against its manifest; return its record."""
        files = self._verified_files(self.resolve(model_id))
        return ModelRecord.from_dict(json.loads(files[METADATA].decode("utf-8")))

    def get(self, model_id: str) -> ModelRecord:
        """The (hash-verified) record of a model."""
        return self.verify(model_id)

    def load(self, model_id: str) -> tuple[ModelRecord, TrainedModel]:
        """The record and the model, parsed only after every hash matched."""
        full = self.resolve(model_id)
        files = self._verified_files(full)
        record = ModelRecord.from_dict(json.loads(files[METADATA].decode("utf-8")))
        try:
            model = model_from_bytes(record.algorithm, files[record.file_name], tuple(record.feature_names))
        except (ValueError, KeyError) as exc:
            raise ModelRegistryError(f"model {full} could not be read: {exc}") from None
        return record, model

    def list(self) -> list[ModelRecord]:
        """Records of every model, oldest first. A model failing verification raises."""
        return [self.get(m) for m in self.model_ids()]

    def survey(self) -> list[tuple[str, ModelRecord | None, ModelIntegrityError | None]]:
        """Every model id with its record, or the integrity error that kept it from being read."""
        out: list[tuple[str, ModelRecord | None, ModelIntegrityError | None]] = []
        for model_id in self.model_ids():
            try:
                out.append((model_id, self.get(model_id), None))
            except ModelIntegrityError as exc:
                out.append((model_id, None, exc))
        return out

    # ---------------------------------------------------------- production

    def production(self) -> ProductionState:
        """The current pointer (empty before the first promotion)."""
        d = self._read_json(self.root / PRODUCTION, None)
        if d is None:
            return EMPTY_PRODUCTION
        return ProductionState(champion=d.get("champion"), promoted_at=d.get("promoted_at"),
                               archive=tuple(d.get("archive", ())), history=tuple(d.get("history", ())))

    def champion(self) -> str | None:
        return self.production().champion

    def _save_production(self, state: ProductionState) -> None:
        _write_atomic(self.root / PRODUCTION, _dump(state.to_dict()))

    def promote(self, model_id: str, *, at: datetime, reason: str = "") -> tuple[str, str | None]:
        """Make ``model_id`` the champion, archiving the current one.

        The candidate is hash-verified first. Returns ``(new champion, previous champion)``.
        """
        full = self.resolve(model_id)
        self.load(full)  # refuse a tampered or unreadable model before pointing production at it
        when = _iso(at)
        with self._locked():
            state = self.production()
            if state.champion == full:
                raise ModelRegistryError(f"model {full} is already the production champion")
            archive = list(state.archive)
            if state.champion is not None:
                archive.append({"model_id": state.champion, "promoted_at": state.promoted_at, "archived_at": when})
            history = [*state.history, {"action": "promote", "model_id": full, "previous": state.champion,
                                        "at": when, "reason": reason}]
            self._save_production(ProductionState(champion=full, promoted_at=when, archive=tuple(archive),
                                                  history=tuple(history)))
        return full, state.champion

    def rollback(self, *, at: datetime, reason: str = "") -> tuple[str, str]:
        """Restore the most recently archived champion. Returns ``(restored, replaced)``.

        The replaced champion is not archived again, so repeated rollbacks walk further
        back through the archive. Raises if there is nothing to roll back to.
        """
        when = _iso(at)
        with self._locked():
            state = self.production()
            if state.champion is None:
                raise ModelRegistryError("no model is in production; nothing to roll back "
                                         "(promote one with `sensequant models promote ID`)")
            if not state.archive:
                raise ModelRegistryError(f"model {state.champion} is the only champion there has been; "
                                         "there is no previous champion to roll back to")
            previous = dict(state.archive[-1])
            restored = str(previous["model_id"])
            self.load(restored)  # never roll back onto a tampered model
            history = [*state.history, {"action": "rollback", "model_id": restored, "previous": state.champion,
                                        "at": when, "reason": reason}]
            self._save_production(ProductionState(champion=restored, promoted_at=when,
                                                  archive=tuple(state.archive[:-1]), history=tuple(history)))
        return restored, str(state.champion)


def default_registry_dir(runs_dir: Path) -> Path:
    """Where the registry lives inside the runs folder."""
    return runs_dir / "models"


__all__: Sequence[str] = ["ModelRecord", "ModelRegistry", "ProductionState", "default_registry_dir",
                          "sha256_bytes"]
