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
``zero_is_missing``, ``boosters`` (per horizon and kind: file name and sha256),
``training`` (dataset, data hash, span, rows, settings, best iterations), ``libraries``
(flowcast, lightgbm, numpy versions), ``metrics`` (validation figures, and backtests recorded
later with :func:`record_backtest`).

:func:`load_model` refuses, with a :class:`ModelError` naming the problem and the fix: a path
that is not a model directory, unreadable or corrupt JSON, another format or a newer format
version, an unknown feature-spec version or key, feature names that do not match the spec, a
missing or altered booster file, a booster with the wrong number of features, and a model whose
bucket or target differs from what the caller needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from flowcast.errors import FlowcastUserError
from flowcast.models.features import FeatureSpec
from flowcast.models.road_model import RoadForecaster

FORMAT = "flowcast-road-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
KINDS = ("mean", "p10", "p90")
MAX_BACKTESTS = 20


class ModelError(FlowcastUserError):
    """A model directory that cannot be used: missing, corrupt or incompatible."""


def booster_file(horizon: int, kind: str) -> str:
    """File name of the ``kind`` booster (mean, p10, p90) of ``horizon`` buckets."""
    return f"h{int(horizon):03d}_{kind}.txt"


def library_versions() -> dict[str, str]:
    """Versions of flowcast and the libraries a model depends on."""
    out = {}
    for name in ("flowcast", "lightgbm", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def save_model(model: RoadForecaster, path: str | os.PathLike[str], *,
               training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               overwrite: bool = False) -> Path:
    """Write ``model`` to the directory ``path`` atomically (a hidden sibling, renamed into
    place) and return the path; ``model.info`` becomes the written ``model.json``.

    ``training`` and ``metrics`` go into ``model.json`` verbatim (JSON types). An existing
    ``path`` is refused unless ``overwrite``, and even then only an empty directory or another
    model directory is replaced.
    """
    path = Path(path)
    check_out_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o755)
    try:
        files = _write_boosters(model, tmp)
        doc = _document(model, files, training or {}, metrics or {})
        _write_json(tmp / MODEL_FILE, doc)
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.info = doc
    return path


def check_out_dir(path: Path, overwrite: bool) -> None:
    """Refuse to write a model to ``path`` when it exists, unless ``overwrite`` and it is an
    empty directory or a model directory (``--force`` never wipes anything else)."""
    if not path.exists():
        return
    if not overwrite:
        raise ModelError(f"{path} already exists; add --force to replace it, or choose "
                         "another --out")
    if not path.is_dir() or not (not any(path.iterdir()) or (path / MODEL_FILE).exists()):
        raise ModelError(f"{path} exists and is not a model directory; it is never replaced, "
                         "so choose another --out")


def _write_boosters(model: RoadForecaster, folder: Path) -> dict[str, dict[str, dict[str, str]]]:
    files: dict[str, dict[str, dict[str, str]]] = {}
    for h in model.horizons:
        boosters = {"mean": model.boosters[h]}
        if model.has_intervals:
            boosters["p10"], boosters["p90"] = model.quantile_boosters[h]
        entry = {}
        for kind, booster in boosters.items():
            name = booster_file(h, kind)
            text = booster.model_to_string()
            (folder / name).write_text(text, encoding="utf-8")
            entry[kind] = {"file": name, "sha256": _sha256(text.encode("utf-8"))}
        files[str(h)] = entry
    return files


def _document(model: RoadForecaster, files: dict[str, Any], training: dict[str, Any],
              metrics: dict[str, Any]) -> dict[str, Any]:
    spec = model.spec.to_dict()
    content = json.dumps([spec, files], sort_keys=True).encode("utf-8")
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": f"{created:%Y%m%dT%H%M%SZ}-{_sha256(content)[:10]}",
        "created": created.isoformat().replace("+00:00", "Z"),
        "model": model.name,
        "target": model.target,
        "bucket_s": model.bucket_s,
        "horizons_steps": list(model.horizons),
        "horizons_min": [h * model.bucket_s / 60 for h in model.horizons],
        "quantiles": [0.1, 0.9] if model.has_intervals else [],
        "interval_margin": {str(h): m for h, m in model.interval_margin.items()},
        "zero_is_missing": model.zero_is_missing,
        "feature_spec": spec,
        "feature_names": model.spec.names,
        "boosters": files,
        "training": training,
        "libraries": library_versions(),
        "metrics": metrics,
    }


def _swap_into_place(tmp: Path, path: Path) -> None:
    if not path.exists():
        tmp.rename(path)
        return
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    try:
        tmp.rename(path)
    except BaseException:
        old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False),
                    encoding="utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

def read_model_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked ``model.json`` of the model directory ``path`` (format and version only;
    :func:`load_model` checks the rest)."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"model {path} does not exist or is not a directory; train one with "
                         "'flowcast train DATASET --out MODEL_DIR'")
    file = path / MODEL_FILE
    if not file.is_file():
        raise ModelError(f"{path} holds no {MODEL_FILE}; it is not a flowcast model directory")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ModelError(f"{file} cannot be read: {err}") from None
    except json.JSONDecodeError as err:
        raise ModelError(f"{file} is corrupt: not valid JSON at line {err.lineno} column "
                         f"{err.colno} ({err.msg}); re-train or restore the model") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError(f"{file} is not a flowcast road model (format "
                         f"{doc.get('format') if isinstance(doc, dict) else None!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(f"{file} has model format version {version!r}; this flowcast reads "
                         f"up to {FORMAT_VERSION}; upgrade flowcast or re-train the model")
    return doc


def load_model(path: str | os.PathLike[str], *, bucket_s: int | None = None,
               target: str | None = None) -> RoadForecaster:
    """Load and check the model directory ``path``.

    ``bucket_s``/``target``: what the caller's data has; a model made for another bucket
    length or variable is refused. Raises :class:`ModelError` (a ``FlowcastUserError``) with
    one line naming the problem; see the module docstring for every check.
    """
    path = Path(path)
    doc = read_model_json(path)
    try:
        spec = FeatureSpec.from_dict(doc["feature_spec"])
        horizons = tuple(int(h) for h in doc["horizons_steps"])
        files = doc["boosters"]
    except KeyError as err:
        raise ModelError(f"{path / MODEL_FILE} lacks {err.args[0]!r}; re-train the model") from None
    except (TypeError, ValueError) as err:
        raise ModelError(f"{path / MODEL_FILE}: unusable feature spec ({err}); this flowcast "
                         "cannot build its features, re-train the model") from None
    _check_compatible(path, doc, spec, bucket_s, target)
    boosters = {h: _booster(path, files, h, "mean", spec) for h in horizons}
    quantiles = {}
    if doc.get("quantiles"):
        quantiles = {h: (_booster(path, files, h, "p10", spec), _booster(path, files, h, "p90",
                                                                             spec))
                     for h in horizons}
    try:
        margins = {int(h): float(m) for h, m in doc.get("interval_margin", {}).items()}
        return RoadForecaster(spec, horizons, boosters, quantiles,
                              zero_is_missing=bool(doc.get("zero_is_missing", False)), info=doc,
                              interval_margin=margins)
    except (TypeError, ValueError) as err:
        raise ModelError(f"{path}: {err}") from None


def _check_compatible(path: Path, doc: dict[str, Any], spec: FeatureSpec,
                      bucket_s: int | None, target: str | None) -> None:
    if doc.get("feature_names") != spec.names:
        raise ModelError(f"{path / MODEL_FILE}: its feature names do not match its feature "
                         "spec as this flowcast builds it; re-train the model")
    if doc.get("bucket_s") != spec.bucket_s:
        raise ModelError(f"{path / MODEL_FILE}: bucket_s {doc.get('bucket_s')} disagrees with "
                         f"its feature spec ({spec.bucket_s} s)")
    if bucket_s is not None and int(bucket_s) != spec.bucket_s:
        raise ModelError(f"model {path} was trained on {spec.bucket_s} s buckets, the data "
                         f"has {int(bucket_s)} s buckets; train a model on data like it")
    if target is not None and target != spec.target:
        raise ModelError(f"model {path} forecasts {spec.target}, not {target}; choose a "
                         f"{target} model")


def _booster(path: Path, files: dict[str, Any], horizon: int, kind: str,
             spec: FeatureSpec) -> lgb.Booster:
    entry = files.get(str(horizon), {}).get(kind) if isinstance(files, dict) else None
    if not isinstance(entry, dict) or "file" not in entry:
        raise ModelError(f"{path / MODEL_FILE} lists no {kind} booster for horizon {horizon}; "
                         "re-train the model")
    file = path / Path(str(entry["file"])).name
    if not file.is_file():
        raise ModelError(f"model {path} is missing its booster file {file.name}; restore it or "
                         "re-train the model")
    data = file.read_bytes()
    if "sha256" in entry and _sha256(data) != entry["sha256"]:
        raise ModelError(f"booster file {file} does not match its checksum in {MODEL_FILE} "
                         "(changed or corrupt); restore it or re-train the model")
    try:
        booster = lgb.Booster(model_str=data.decode("utf-8"))
    except (lgb.basic.LightGBMError, UnicodeDecodeError) as err:
        raise ModelError(f"booster file {file} cannot be read by LightGBM ({err})") from None
    if booster.num_feature() != spec.n_features:
        raise ModelError(f"booster file {file} reads {booster.num_feature()} features, the "
                         f"feature spec {spec.n_features}; re-train the model")
    return booster


def record_backtest(path: str | os.PathLike[str], summary: dict[str, Any]) -> None:
    """Append a backtest ``summary`` (JSON types) to ``metrics.backtests`` in ``model.json``
    (the last :data:`MAX_BACKTESTS` are kept); the file is replaced atomically."""
    path = Path(path)
    doc = read_model_json(path)
    metrics = doc.setdefault("metrics", {})
    metrics["backtests"] = [*metrics.get("backtests", []), summary][-MAX_BACKTESTS:]
    tmp = path / f".{MODEL_FILE}.{os.getpid()}.tmp"
    try:
        _write_json(tmp, _plain(doc))
        os.replace(tmp, path / MODEL_FILE)
    finally:
        tmp.unlink(missing_ok=True)


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
