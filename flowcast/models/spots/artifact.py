"""The spot model's artifact: the ``spots/`` subdirectory of a model directory. No pickle.

::

    MODEL_DIR/spots/
      model.json        format "flowcast-spot-model", spec, horizons, training, metrics, version
      h004_mean.txt     LightGBM text model: mean saturation 4 buckets (60 min) ahead
      h004_p10.txt      P10 / P90 boosters (with intervals)
      h004_p90.txt ...

:func:`save_spot_model` writes it atomically (a hidden sibling renamed into place, as the road
model); :func:`load_spot_model` reads it with the loader every model kind shares
(:func:`~flowcast.formats.model_dir.read_boosted_model`) and refuses, with a
:class:`~flowcast.formats.model_dir.ModelError` naming the fix, anything it cannot serve: no
directory or ``model.json``, corrupt JSON, another format or a newer format version, an unknown
feature spec, feature names that differ, a missing or altered booster file, a booster that is
damaged or crashes, hangs or predicts non-finite numbers in a child process, a model of another
bucket length or other horizons than the caller's, and a model trained for another city.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowcast.formats.model_city import CityIds, city_binding
from flowcast.formats.model_dir import (
    ModelError,
    read_boosted_model,
    read_model_doc,
    save_boosted_model,
)
from flowcast.models.spots.features import SpotFeatureSpec
from flowcast.models.spots.forecaster import SpotForecaster

FORMAT = "flowcast-spot-model"
FORMAT_VERSION = 1
SPOTS_DIR = "spots"


def spot_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """Where a model directory keeps its spot model: ``MODEL_DIR/spots``."""
    return Path(model_dir) / SPOTS_DIR


def save_spot_model(model: SpotForecaster, path: str | os.PathLike[str], *,
                    training: dict[str, Any] | None = None,
                    metrics: dict[str, Any] | None = None, overwrite: bool = True,
                    city: CityIds | None = None) -> Path:
    """Write ``model`` to the directory ``path`` (usually :func:`spot_model_dir`) atomically
    and return it; ``model.info`` becomes the written ``model.json``. ``training`` and
    ``metrics`` go in verbatim (JSON types); ``city`` binds it to the city it was trained on.
    An existing ``path`` is replaced only with
    ``overwrite`` and only when it is empty or a model directory."""
    return save_boosted_model(model, Path(path), fmt=FORMAT, format_version=FORMAT_VERSION,
                              own={"target": "saturation"}, training=training,
                              metrics=metrics, overwrite=overwrite,
                              city=city_binding(city) if city is not None else None)


def read_spot_model_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``model.json`` of the spot model directory ``path``, its format and format version
    checked (:func:`load_spot_model` checks the rest)."""
    return read_model_doc(Path(path), FORMAT, FORMAT_VERSION, "spot model",
                          "train one with 'flowcast train DATASET --out MODEL_DIR' on a "
                          "dataset with spots")


def load_spot_model(path: str | os.PathLike[str], *, bucket_s: int | None = None,
                    horizons: Sequence[int] | None = None,
                    city: CityIds | None = None) -> SpotForecaster:
    """Load and check the spot model directory ``path`` (``MODEL_DIR/spots``).

    ``bucket_s`` and ``horizons`` (buckets): what the caller serves; a model for another
    bucket length or other horizons is refused with a :class:`ModelError` saying how to fix it;
    so is one trained for another city than ``city`` (None: not checked).
    """
    path = Path(path)
    doc = read_spot_model_json(path)

    def check(spec: SpotFeatureSpec) -> None:
        if bucket_s is not None and int(bucket_s) != spec.bucket_s:
            raise ModelError(f"spot model {path} was trained on {spec.bucket_s} s buckets, the "
                             f"engine uses {int(bucket_s)} s spot buckets; re-train it on data "
                             "like the engine's (time.spot_bucket_s)")
        if horizons is not None and tuple(int(h) for h in horizons) != spec.horizons:
            have = horizons_label(spec.horizons, spec.bucket_s)
            raise ModelError(f"spot model {path} forecasts {have} ahead, the engine asks for "
                             f"{horizons_label(horizons, spec.bucket_s)}; re-train with those "
                             "horizons or set engine.spot_horizons_min to the model's")

    parts = read_boosted_model(path, doc, SpotFeatureSpec.from_dict, what="spot model",
                               check=check, city=city)
    try:
        return SpotForecaster(parts.spec, parts.boosters, parts.quantile_boosters, info=doc,
                              interval_margin=parts.interval_margin)
    except (TypeError, ValueError) as err:
        raise ModelError(f"{path}: {err}") from None


def horizons_label(horizons: Sequence[int], bucket_s: int) -> str:
    """``"60,120,... min"`` of horizons in buckets."""
    return ",".join(f"{h * bucket_s / 60:g}" for h in horizons) + " min"
