"""The model artifact: a directory of LightGBM text models and ``model.json``. No pickle.

::

    MODEL_DIR/
      model.json              what the model is (below)
      h001_mean.txt           LightGBM text model of the mean forecast, 1 bucket ahead
      h001_p10.txt            P10 and P90 boosters (when the model has intervals)
      h001_p90.txt
      h002_mean.txt ...

``model.json`` holds ``format`` (``flowcast-road-model``), ``format_version``, ``version`` (the
id the engine and the reports show: UTC creation time + the first 10 hex digits of the sha256
of the spec and every booster file), ``created``, ``target``, ``bucket_s``, ``horizons_steps``
and ``horizons_min``, ``feature_spec`` (``FeatureSpec.to_dict``) and ``feature_names``,
``zero_is_missing``, ``city`` (name and sha256 of the segment and sensor ids, when trained on a
dataset with a city), ``boosters`` (per horizon and kind: file name and sha256),
``training`` (dataset, data hash, span, rows, settings, best iterations), ``libraries``
(flowcast, lightgbm, numpy versions), ``metrics`` (validation figures, and backtests recorded
later with :func:`record_backtest`).

:func:`load_model` refuses, with a :class:`ModelError` naming the problem and the fix: a path
that is not a model directory, unreadable or corrupt JSON, another format or a newer format
version, an unknown feature-spec version or key, feature names that do not match the spec, a
missing or altered booster file, a booster with the wrong number of features, a booster that is
damaged or crashes, hangs or predicts non-finite numbers in a child process (it never reaches
this process), a model whose bucket or target differs from what the caller needs, and a model
trained for another city than the caller's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from flowcast.formats.atomic import write_file
from flowcast.formats.model_city import CityIds, city_binding
from flowcast.formats.model_dir import (
    MODEL_FILE,
    ModelError,
    booster_file,
    check_out_dir,
    library_versions,
    read_boosted_model,
    read_model_doc,
    save_boosted_model,
    write_json,
)
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.forecaster import RoadForecaster

__all__ = ["FORMAT", "FORMAT_VERSION", "KINDS", "MODEL_FILE", "ModelError", "booster_file",
           "check_out_dir", "library_versions", "load_model", "read_model_json",
           "record_backtest", "save_model"]

FORMAT = "flowcast-road-model"
FORMAT_VERSION = 1
KINDS = ("mean", "p10", "p90")
MAX_BACKTESTS = 20


def save_model(model: RoadForecaster, path: str | os.PathLike[str], *,
               training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               overwrite: bool = False, city: CityIds | None = None) -> Path:
    """Write ``model`` to the directory ``path`` atomically (a hidden sibling, renamed into
    place) and return the path; ``model.info`` becomes the written ``model.json``.

    ``training`` and ``metrics`` go into ``model.json`` verbatim (JSON types); ``city``, the
    city it was trained on, binds it to that city (``model.json``'s ``city``). An existing
    ``path`` is refused unless ``overwrite``, and even then only an empty directory or another
    model directory is replaced.
    """
    return save_boosted_model(model, Path(path), fmt=FORMAT, format_version=FORMAT_VERSION,
                              own={"target": model.target,
                                   "zero_is_missing": model.zero_is_missing},
                              training=training, metrics=metrics, overwrite=overwrite,
                              city=city_binding(city) if city is not None else None)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

def read_model_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked ``model.json`` of the model directory ``path`` (format and version only;
    :func:`load_model` checks the rest)."""
    return read_model_doc(Path(path), FORMAT, FORMAT_VERSION, "road model",
                          "train one with 'flowcast train DATASET --out MODEL_DIR'")


def load_model(path: str | os.PathLike[str], *, bucket_s: int | None = None,
               target: str | None = None, city: CityIds | None = None) -> RoadForecaster:
    """Load and check the model directory ``path``
    (:func:`~flowcast.formats.model_dir.read_boosted_model`).

    ``bucket_s``/``target``: what the caller's data has; a model made for another bucket
    length or variable is refused; ``city``: the city served, a model trained for another one
    is refused (one without a city is served, with a warning logged once). Raises
    :class:`ModelError` (a ``FlowcastUserError``) with one line naming the problem; see the
    module docstring for every check.
    """
    path = Path(path)
    doc = read_model_json(path)

    def check(spec: FeatureSpec) -> None:
        if bucket_s is not None and int(bucket_s) != spec.bucket_s:
            raise ModelError(f"model {path} was trained on {spec.bucket_s} s buckets, the data "
                             f"has {int(bucket_s)} s buckets; train a model on data like it")
        if target is not None and target != spec.target:
            raise ModelError(f"model {path} forecasts {spec.target}, not {target}; choose a "
                             f"{target} model")

    parts = read_boosted_model(path, doc, FeatureSpec.from_dict, what="model", check=check,
                               city=city)
    try:
        return RoadForecaster(parts.spec, parts.horizons, parts.boosters,
                              parts.quantile_boosters,
                              zero_is_missing=bool(doc.get("zero_is_missing", False)), info=doc,
                              interval_margin=parts.interval_margin)
    except (TypeError, ValueError) as err:
        raise ModelError(f"{path}: {err}") from None


def record_backtest(path: str | os.PathLike[str], summary: dict[str, Any]) -> None:
    """Append a backtest ``summary`` (JSON types) to ``metrics.backtests`` in ``model.json``
    (the last :data:`MAX_BACKTESTS` are kept); the file is replaced atomically."""
    path = Path(path)
    doc = read_model_json(path)
    metrics = doc.setdefault("metrics", {})
    metrics["backtests"] = [*metrics.get("backtests", []), summary][-MAX_BACKTESTS:]
    write_file(path / MODEL_FILE, lambda tmp: write_json(tmp, _plain(doc)))


def _plain(value: Any) -> Any:
    """JSON types only: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
