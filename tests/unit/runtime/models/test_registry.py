"""The registry versions, promotes, rolls back and refuses corrupt or incompatible models,
and a slot keeps the previous model in service when the promoted one is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ott_runtime.models.registry import (
    DirectoryBackend,
    ModelMetadata,
    ModelRefused,
    ModelRegistry,
    ModelSlot,
)


def metadata(schema: list[str] | None = None) -> ModelMetadata:
    return ModelMetadata(
        tenant="acme",
        model="toy",
        kind="toy",
        data_hash="abc",
        feature_schema=schema or ["value"],
        metrics={"loss": 0.1},
    )


def artifact(tmp_path: Path, weights: str) -> Path:
    folder = tmp_path / f"artifact-{weights}"
    folder.mkdir()
    (folder / "weights.json").write_text(json.dumps({"w": weights}))
    return folder


def read_weights(folder: Path, meta: ModelMetadata) -> str:
    return str(json.loads((folder / "weights.json").read_text())["w"])


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(DirectoryBackend(tmp_path / "registry"))


def test_versions_promotion_and_rollback(registry: ModelRegistry, tmp_path: Path) -> None:
    first = registry.register(metadata(), artifact(tmp_path, "one"))
    second = registry.register(metadata(), artifact(tmp_path, "two"))
    assert (first.version, second.version) == (1, 2)
    assert registry.promoted("acme", "toy") is None
    with pytest.raises(ModelRefused, match="no promoted version"):
        registry.load("acme", "toy", read_weights)
    registry.promote("acme", "toy", 1)
    registry.promote("acme", "toy", 2)
    assert registry.load("acme", "toy", read_weights)[0] == "two"
    assert registry.rollback("acme", "toy") == 1
    loaded, meta = registry.load("acme", "toy", read_weights)
    assert (loaded, meta.version, meta.metrics) == ("one", 1, {"loss": 0.1})
    assert set(meta.files) == {"weights.json"}
    with pytest.raises(ModelRefused, match="no earlier promoted version"):
        registry.rollback("acme", "toy")


def test_corrupt_file_is_refused_and_the_slot_keeps_the_previous_model(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    registry.register(metadata(), artifact(tmp_path, "good"))
    registry.promote("acme", "toy", 1)
    slot = ModelSlot(registry, "acme", "toy", read_weights)
    assert slot.refresh() is True
    assert slot.get() == "good"

    bad = registry.register(metadata(), artifact(tmp_path, "bad"))
    registry.promote("acme", "toy", bad.version)
    stored = registry.backend.version_dir("acme", "toy", bad.version) / "weights.json"
    stored.write_text('{"w": "tampered"}')
    assert slot.refresh() is False  # refused: the good model stays in service
    assert slot.get() == "good"
    assert slot.version == 1
    assert slot.last_error is not None
    assert "corrupt" in slot.last_error
    with pytest.raises(ModelRefused, match="corrupt"):
        registry.promote("acme", "toy", bad.version)


def test_hot_swap_on_promotion(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.register(metadata(), artifact(tmp_path, "one"))
    registry.promote("acme", "toy", 1)
    slot = ModelSlot(registry, "acme", "toy", read_weights)
    slot.refresh()
    assert slot.refresh() is False  # nothing new
    registry.register(metadata(), artifact(tmp_path, "two"))
    registry.promote("acme", "toy", 2)
    assert slot.refresh() is True
    assert (slot.get(), slot.version) == ("two", 2)


def test_incompatible_schema_and_unloadable_models_are_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    registry.register(metadata(["value", "hour"]), artifact(tmp_path, "x"))
    with pytest.raises(ModelRefused, match="feature schema"):
        registry.load("acme", "toy", read_weights, version=1, expect_schema=["value"])

    def broken(folder: Path, meta: ModelMetadata) -> str:
        raise OSError("truncated file")

    with pytest.raises(ModelRefused, match="cannot be loaded: truncated file"):
        registry.load("acme", "toy", broken, version=1)
    slot = ModelSlot(registry, "acme", "toy", broken)
    registry.promote("acme", "toy", 1)
    assert slot.refresh() is False
    with pytest.raises(ModelRefused, match="no model in service"):
        slot.get()


def test_missing_file_and_bad_names_are_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.register(metadata(), artifact(tmp_path, "x"))
    (registry.backend.version_dir("acme", "toy", 1) / "weights.json").unlink()
    with pytest.raises(ModelRefused, match="missing"):
        registry.verify("acme", "toy", 1)
    with pytest.raises(ValueError, match="tenant name"):
        registry.backend.versions("../etc", "toy")


def test_trained_keras_model_round_trips_through_the_registry(
    registry: ModelRegistry,
) -> None:
    from ott_runtime.models.series.detector import DetectorConfig
    from ott_runtime.models.series.lstm import FEATURE_SCHEMA, LstmConfig
    from ott_runtime.models.training import SERIES_MODEL, load_series, train_series

    stamps = np.datetime64("2026-01-05") + np.arange(300) * np.timedelta64(10, "m")
    values = 50 + 10 * np.sin(np.arange(300) / 23)
    config = DetectorConfig(lstm=LstmConfig(lookback=8, units=4, epochs=2))
    stored = train_series(registry, "acme", stamps.astype("datetime64[ns]"), values, config)
    assert stored.library_versions["keras"].startswith("3.")
    assert stored.metrics["final_loss"] > 0
    detector, meta = registry.load(
        "acme", SERIES_MODEL, load_series, expect_schema=list(FEATURE_SCHEMA)
    )
    assert meta.version == 1
    residuals = detector.forecaster.residuals(stamps.astype("datetime64[ns]"), values)
    assert residuals.shape == (300 - 8,)
    assert np.isfinite(residuals).all()


def test_a_series_model_saved_with_older_threshold_settings_still_loads(
    registry: ModelRegistry,
) -> None:
    """Threshold settings are code, not weights: a key the detector no longer has (here the
    old ``z_half``) is dropped, the network and the known settings are kept."""
    import json

    from ott_runtime.models.series.detector import DetectorConfig
    from ott_runtime.models.series.lstm import FEATURE_SCHEMA, LstmConfig
    from ott_runtime.models.training import SERIES_MODEL, load_series, train_series

    stamps = (np.datetime64("2026-01-05") + np.arange(200) * np.timedelta64(10, "m")).astype(
        "datetime64[ns]"
    )
    values = 50 + 10 * np.sin(np.arange(200) / 23)
    config = DetectorConfig(lstm=LstmConfig(lookback=8, units=4, epochs=1))
    stored = train_series(registry, "acme", stamps, values, config)
    metadata_file = next(registry.backend.root.rglob("metadata.json"))
    document = json.loads(metadata_file.read_text())
    document["params"]["threshold"] = {"z_half": 6.0, "window": 321}
    metadata_file.write_text(json.dumps(document))
    detector, meta = registry.load(
        "acme", SERIES_MODEL, load_series, expect_schema=list(FEATURE_SCHEMA)
    )
    assert meta.version == stored.version
    assert detector.config.threshold.window == 321
    assert not hasattr(detector.config.threshold, "z_half")
