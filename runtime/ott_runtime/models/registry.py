"""Model registry: versions per tenant and model, promote/rollback, checked loading, hot swap.

A version is a folder of artifact files (``model.keras``, scalers, ...) plus ``metadata.json``
that records the SHA-256 of each file, the metrics, the training-data hash, the feature schema,
the library versions and when it was created. Loading checks all of it before the model is
handed out; a corrupt or incompatible version raises :class:`ModelRefused` and a
:class:`ModelSlot` keeps serving the version it had.

Storage sits behind :class:`RegistryBackend`; :class:`DirectoryBackend` is the standalone one
(the runtime database can implement the same five methods).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
T = TypeVar("T")


class ModelRefused(RuntimeError):
    """A model version that must not serve: corrupt, incompatible or missing."""


class ModelMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    model: str
    kind: str  # e.g. "lstm_forecaster", "session_transformer", "ensemble"
    version: int = 0  # assigned by the registry
    format_version: int = FORMAT_VERSION
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    metrics: dict[str, float] = Field(default_factory=dict)
    data_hash: str
    feature_schema: list[str]
    library_versions: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)  # name -> sha256, filled at register
    params: dict[str, Any] = Field(default_factory=dict)  # what the loader needs besides files


class RegistryBackend(Protocol):
    def versions(self, tenant: str, model: str) -> list[int]: ...
    def write_version(self, metadata: ModelMetadata, artifact_dir: Path) -> None: ...
    def version_dir(self, tenant: str, model: str, version: int) -> Path: ...
    def promotions(self, tenant: str, model: str) -> list[int]: ...
    def set_promotions(self, tenant: str, model: str, history: list[int]) -> None: ...


def _check_name(kind: str, value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(f"{kind} name {value!r}: use lower-case letters, digits, '.', '_', '-'")
    return value


class DirectoryBackend:
    """``root/<tenant>/<model>/v<N>/`` folders and a ``promotions.json`` history per model."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _model_dir(self, tenant: str, model: str) -> Path:
        return self.root / _check_name("tenant", tenant) / _check_name("model", model)

    def versions(self, tenant: str, model: str) -> list[int]:
        base = self._model_dir(tenant, model)
        if not base.is_dir():
            return []
        found = (p.name[1:] for p in base.iterdir() if p.is_dir() and p.name.startswith("v"))
        return sorted(int(v) for v in found if v.isdigit())

    def version_dir(self, tenant: str, model: str, version: int) -> Path:
        return self._model_dir(tenant, model) / f"v{version}"

    def write_version(self, metadata: ModelMetadata, artifact_dir: Path) -> None:
        target = self.version_dir(metadata.tenant, metadata.model, metadata.version)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        for name in metadata.files:
            shutil.copy2(artifact_dir / name, staging / name)
        (staging / "metadata.json").write_text(metadata.model_dump_json(indent=2))
        staging.rename(target)  # a version appears whole or not at all

    def promotions(self, tenant: str, model: str) -> list[int]:
        path = self._model_dir(tenant, model) / "promotions.json"
        return [int(v) for v in json.loads(path.read_text())] if path.is_file() else []

    def set_promotions(self, tenant: str, model: str, history: list[int]) -> None:
        path = self._model_dir(tenant, model) / "promotions.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(history))
        os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelRegistry:
    def __init__(self, backend: RegistryBackend) -> None:
        self.backend = backend
        self._lock = threading.Lock()

    def register(self, metadata: ModelMetadata, artifact_dir: Path) -> ModelMetadata:
        """Store the files of ``artifact_dir`` (all of them) as the next version."""
        files = sorted(p for p in Path(artifact_dir).iterdir() if p.is_file())
        if not files:
            raise ValueError(f"{artifact_dir}: no artifact files to register")
        if any(p.name == "metadata.json" for p in files):
            raise ValueError("metadata.json is written by the registry; remove it from artifacts")
        with self._lock:
            version = max(self.backend.versions(metadata.tenant, metadata.model), default=0) + 1
            stored = metadata.model_copy(
                update={"version": version, "files": {p.name: sha256_file(p) for p in files}}
            )
            self.backend.write_version(stored, Path(artifact_dir))
        return stored

    def metadata(self, tenant: str, model: str, version: int) -> ModelMetadata:
        path = self.backend.version_dir(tenant, model, version) / "metadata.json"
        if not path.is_file():
            raise ModelRefused(f"{tenant}/{model} v{version}: no such version")
        try:
            return ModelMetadata.model_validate_json(path.read_text())
        except ValueError as error:
            raise ModelRefused(
                f"{tenant}/{model} v{version}: unreadable metadata: {error}"
            ) from error

    def promoted(self, tenant: str, model: str) -> int | None:
        history = self.backend.promotions(tenant, model)
        return history[-1] if history else None

    def promote(self, tenant: str, model: str, version: int) -> None:
        self.verify(tenant, model, version)  # never promote what could not be loaded
        with self._lock:
            history = self.backend.promotions(tenant, model)
            self.backend.set_promotions(tenant, model, [*history, version])

    def rollback(self, tenant: str, model: str) -> int:
        """Return to the version promoted before the current one; returns it."""
        with self._lock:
            history = self.backend.promotions(tenant, model)
            if len(history) < 2:
                raise ModelRefused(f"{tenant}/{model}: no earlier promoted version to roll back to")
            self.backend.set_promotions(tenant, model, history[:-1])
            return history[-2]

    def verify(self, tenant: str, model: str, version: int) -> tuple[ModelMetadata, Path]:
        """Metadata and folder of a version whose files are all present and intact."""
        meta = self.metadata(tenant, model, version)
        where = self.backend.version_dir(tenant, model, version)
        if meta.format_version != FORMAT_VERSION:
            raise ModelRefused(
                f"{tenant}/{model} v{version}: format {meta.format_version}, "
                f"this runtime reads format {FORMAT_VERSION}"
            )
        for name, expected in meta.files.items():
            path = where / name
            if not path.is_file():
                raise ModelRefused(f"{tenant}/{model} v{version}: file {name} is missing")
            if sha256_file(path) != expected:
                raise ModelRefused(f"{tenant}/{model} v{version}: {name} is corrupt (hash differs)")
        return meta, where

    def load(
        self,
        tenant: str,
        model: str,
        loader: Callable[[Path, ModelMetadata], T],
        version: int | None = None,
        expect_schema: list[str] | None = None,
    ) -> tuple[T, ModelMetadata]:
        """Load a version (the promoted one by default) after every check has passed."""
        chosen = self.promoted(tenant, model) if version is None else version
        if chosen is None:
            raise ModelRefused(f"{tenant}/{model}: no promoted version")
        meta, where = self.verify(tenant, model, chosen)
        if expect_schema is not None and meta.feature_schema != expect_schema:
            raise ModelRefused(
                f"{tenant}/{model} v{chosen}: feature schema {meta.feature_schema} "
                f"does not match this runtime's {expect_schema}"
            )
        try:
            return loader(where, meta), meta
        except Exception as error:  # any failure to deserialise means: do not serve it
            raise ModelRefused(f"{tenant}/{model} v{chosen}: cannot be loaded: {error}") from error


class ModelSlot(Generic[T]):
    """The model in service for one tenant and model name, swapped only for a good one."""

    def __init__(
        self,
        registry: ModelRegistry,
        tenant: str,
        model: str,
        loader: Callable[[Path, ModelMetadata], T],
        expect_schema: list[str] | None = None,
        precondition: Callable[[ModelMetadata], str | None] | None = None,
    ) -> None:
        """``precondition`` returns why a version must not serve now (or None), e.g. a model
        trained on the outputs of another model version than the one in service."""
        self.registry, self.tenant, self.model = registry, tenant, model
        self.loader, self.expect_schema = loader, expect_schema
        self.precondition = precondition
        self.current: T | None = None
        self.metadata: ModelMetadata | None = None
        self.last_error: str | None = None
        self._refused: tuple[int, str] | None = None  # (version, why)
        self._lock = threading.Lock()

    @property
    def version(self) -> int | None:
        return None if self.metadata is None else self.metadata.version

    def candidate(self) -> tuple[T, ModelMetadata] | None:
        """The promoted version, loaded and checked, when it differs from the one in service
        (None when it does not). Raises :class:`ModelRefused`; a version refused for its
        files is not read again on every refresh (versions never change once stored)."""
        promoted = self.registry.promoted(self.tenant, self.model)
        if promoted is not None and promoted == self.version:
            self.last_error = None  # e.g. rolled back to the version in service
        if promoted is None or promoted == self.version:
            return None
        if self._refused is not None and self._refused[0] == promoted:
            raise ModelRefused(self._refused[1])
        if self.precondition is not None:
            reason = self.precondition(self.registry.metadata(self.tenant, self.model, promoted))
            if reason:
                raise ModelRefused(f"{self.tenant}/{self.model} v{promoted}: {reason}")
        try:
            return self.registry.load(
                self.tenant, self.model, self.loader, promoted, self.expect_schema
            )
        except ModelRefused as error:
            self._refused = (promoted, str(error))
            raise

    def install(self, loaded: T, metadata: ModelMetadata) -> None:
        with self._lock:
            self.current, self.metadata, self.last_error = loaded, metadata, None

    def refuse(self, error: ModelRefused) -> None:
        """Keep the version in service and say why the promoted one is not."""
        if str(error) != self.last_error:
            log.error("model refused, keeping v%s: %s", self.version, error)
        self.last_error = str(error)

    def refresh(self) -> bool:
        """Load the promoted version when it differs from the one in service.

        Returns True when a new version went into service. On failure the error is kept in
        ``last_error``, logged, and the previous model stays.
        """
        try:
            loaded = self.candidate()
        except ModelRefused as error:
            self.refuse(error)
            return False
        if loaded is None:
            return False
        self.install(*loaded)
        return True

    def get(self) -> T:
        with self._lock:
            if self.current is None:
                raise ModelRefused(
                    f"{self.tenant}/{self.model}: no model in service"
                    + (f" ({self.last_error})" if self.last_error else "")
                )
            return self.current
