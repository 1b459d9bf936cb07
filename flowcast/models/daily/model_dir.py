"""The daily-arrivals model directory: one LightGBM text file per horizon and quantile, and
``model.json`` (feature list, horizons, training span, data hash, library versions, version id,
the files' SHA-256). Never pickle. Each file is written under a temporary name and renamed into
place, ``model.json`` last (the commit); reading refuses a directory whose format, feature spec
or files do not match this code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from flowcast.errors import FlowcastUserError
from flowcast.formats.model_dir import MODEL_FILE, booster_file, sha256
from flowcast.models.calendar import DAY_S
from flowcast.models.daily import features as dfe
from flowcast.models.daily.boosting import QUANTILES, DailyConfig
from flowcast.models.daily.data import data_hash

FORMAT = "flowcast-daily-arrivals/1"


class DailyModelError(FlowcastUserError):
    """A daily-arrivals model that cannot be trained, loaded or used as asked."""


def write_model_dir(directory: str | os.PathLike[str],
                    boosters: dict[int, dict[str, lgb.Booster]], meta: dict[str, Any]) -> Path:
    """Write ``boosters`` (``{horizon: {kind: booster}}``) and ``meta`` (``model.json``) into
    ``directory`` (created if needed), ``model.json`` last. Returns the directory. Refuses a
    booster that differs from the file hash recorded in ``meta``."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise DailyModelError(f"{out} exists and is not a directory; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    for h, kinds in boosters.items():
        for kind, booster in kinds.items():
            text = booster.model_to_string()
            if _text_sha256(text) != meta["files"][booster_file(h, kind)]:
                raise DailyModelError(f"booster {booster_file(h, kind)} changed after "
                                      "training; fit the model again")
            _write_atomic(out / booster_file(h, kind), text)
    _write_atomic(out / MODEL_FILE, json.dumps(meta, indent=1))  # last: the commit
    return out


def read_model_dir(directory: str | os.PathLike[str]
                   ) -> tuple[dict[int, dict[str, lgb.Booster]], dict[str, Any]]:
    """The boosters (``{horizon: {kind: booster}}``) and ``model.json`` of a directory written by
    :func:`write_model_dir`.

    Refuses (:class:`DailyModelError`, saying what to do) a missing directory or
    ``model.json``, another format, a feature list or feature spec version that differs from
    this code's, a LightGBM major version other than the installed one, and a model file that is
    missing or whose SHA-256 differs from ``model.json``.
    """
    root = Path(directory)
    path = root / MODEL_FILE
    if not path.is_file():
        raise DailyModelError(f"{root} holds no {MODEL_FILE}; give a directory written by "
                              "DailyArrivalsModel.save")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DailyModelError(f"{path} is not valid JSON ({err}); retrain the model") from err
    check_compatible(meta, root)
    boosters: dict[int, dict[str, lgb.Booster]] = {}
    for h in meta["horizons"]:
        kinds = ["point", *meta["quantiles"]]
        boosters[int(h)] = {k: lgb.Booster(model_file=str(root / booster_file(int(h), k)))
                            for k in kinds}
    return boosters, meta


def check_compatible(meta: dict[str, Any], root: Path) -> None:
    """Raise :class:`DailyModelError` unless ``meta`` (a ``model.json``) was written by a
    compatible flowcast and its files in ``root`` are intact."""
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise DailyModelError(f"{root} is a {fmt!r} model; this flowcast reads {FORMAT!r}: "
                              "retrain it with this version")
    spec = meta.get("feature_spec_version")
    if spec != dfe.FEATURE_SPEC_VERSION or list(meta.get("features", [])) != list(dfe.FEATURES):
        raise DailyModelError(
            f"{root} was trained with another feature spec (version {spec}, "
            f"{len(meta.get('features', []))} features); this flowcast builds version "
            f"{dfe.FEATURE_SPEC_VERSION} with {len(dfe.FEATURES)}: retrain the model")
    trained = str(meta.get("library_versions", {}).get("lightgbm", "?")).split(".")[0]
    if trained != lgb.__version__.split(".")[0]:
        raise DailyModelError(f"{root} was trained with LightGBM {trained}.x; this is "
                              f"{lgb.__version__}: retrain the model")
    _check_files(meta, root)


def _check_files(meta: dict[str, Any], root: Path) -> None:
    """Every booster file named by the horizons and quantiles exists with its recorded hash."""
    files = meta.get("files", {})
    for h in meta.get("horizons", []):
        for kind in ["point", *meta.get("quantiles", [])]:
            name = booster_file(int(h), kind)
            if name not in files or not (root / name).is_file():
                raise DailyModelError(f"{root} lacks {name} (horizon {h} d, {kind}); the "
                                      "directory is incomplete: save the model again")
            if sha256((root / name).read_bytes()) != files[name]:
                raise DailyModelError(f"{root / name} differs from the file the model was "
                                      "saved with (SHA-256 mismatch); save the model again")


def model_meta(series: pd.Series, horizons: Sequence[int], config: DailyConfig,
               info: dict[str, Any], timezone: str,
               boosters: dict[int, dict[str, lgb.Booster]]) -> dict[str, Any]:
    """The ``model.json`` content of ``boosters`` trained on ``series`` (``info``: per horizon
    rows and rounds), with the booster files' SHA-256 and the version id they give."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "kind": "daily_arrivals",
        "version": None,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "series": str(series.name if series.name is not None else "spot"),
        "target": "arrivals (visitors per local day)",
        "target_transform": "log1p(y[t+h]) - mean(log1p(y[t-6..t])); back: expm1",
        "interval_s": DAY_S,
        "timezone": timezone,
        "horizons": list(horizons),
        "quantiles": list(QUANTILES) if config.intervals else [],
        "features": list(dfe.FEATURES),
        "feature_spec_version": dfe.FEATURE_SPEC_VERSION,
        "training_span": {"first_day": str(series.index[0].date()),
                          "last_day": str(series.index[-1].date()), "days": len(series),
                          "days_with_count": int(series.notna().sum())},
        "data_hash": data_hash(series),
        "library_versions": {"lightgbm": lgb.__version__, "numpy": np.__version__,
                             "pandas": pd.__version__, "python": platform.python_version()},
        "config": asdict(config),
        "params": config.lgb_params("regression"),
        "per_horizon": info,
        "metrics": {},
    }
    meta["files"] = {booster_file(h, kind): _text_sha256(b.model_to_string())
                     for h, kinds in boosters.items() for kind, b in kinds.items()}
    meta["version"] = _version_id(meta)
    return meta


def _version_id(meta: dict[str, Any]) -> str:
    """A content id: the data hash and the booster files' hashes (same training, same id)."""
    digest = hashlib.sha256(meta["data_hash"].encode())
    for name in sorted(meta["files"]):
        digest.update(f"{name}={meta['files'][name]}".encode())
    return f"daily-{digest.hexdigest()[:12]}"


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _text_sha256(text: str) -> str:
    return sha256(text.encode("utf-8"))
