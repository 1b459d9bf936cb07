"""What every flowcast model directory shares, road or scenic spot: LightGBM text boosters with
their sha256 in ``model.json``, an atomic write (a hidden sibling renamed into place), a version
id, and one loader with the checks on reading back (:func:`read_boosted_model`). No pickle.

No booster reaches this process's LightGBM untried: the loader checks each booster text's
structure and has a child process load it and predict a probe row first
(:mod:`flowcast.formats.booster_probe`), since LightGBM aborts or segfaults the process on some
damaged files. A model can be bound to the city it was trained for
(:mod:`flowcast.formats.model_city`).

:mod:`flowcast.models.roads.artifact` (road) and :mod:`flowcast.models.spots.artifact` (spots)
add their own ``model.json`` fields and checks on top of these.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import lightgbm as lgb

from flowcast.errors import FlowcastUserError
from flowcast.formats.atomic import write_directory
from flowcast.formats.booster_probe import BoosterRefused, BoosterText, probe_boosters
from flowcast.formats.model_city import CityIds, check_model_city

MODEL_FILE = "model.json"


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


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """``doc`` as indented JSON (NaN refused) at ``path``."""
    path.write_text(json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False),
                    encoding="utf-8")


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


def write_boosters(folder: Path, horizons: Sequence[int], boosters: Mapping[int, lgb.Booster],
                   quantile_boosters: Mapping[int, tuple[lgb.Booster, lgb.Booster]]
                   ) -> dict[str, dict[str, dict[str, str]]]:
    """Write each horizon's mean booster (and P10/P90 when given) as LightGBM text into
    ``folder``; returns ``{horizon: {kind: {"file", "sha256"}}}`` for ``model.json``."""
    files: dict[str, dict[str, dict[str, str]]] = {}
    for h in horizons:
        kinds = {"mean": boosters[h]}
        if quantile_boosters:
            kinds["p10"], kinds["p90"] = quantile_boosters[h]
        entry = {}
        for kind, booster in kinds.items():
            name = booster_file(h, kind)
            text = booster.model_to_string()
            (folder / name).write_text(text, encoding="utf-8")
            entry[kind] = {"file": name, "sha256": sha256(text.encode("utf-8"))}
        files[str(h)] = entry
    return files


def version_stamp(spec: dict[str, Any], files: dict[str, Any]) -> dict[str, str]:
    """``{"version", "created"}``: the UTC creation time and the first 10 hex digits of the
    sha256 of the feature spec and every booster file."""
    content = json.dumps([spec, files], sort_keys=True).encode("utf-8")
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {"version": f"{created:%Y%m%dT%H%M%SZ}-{sha256(content)[:10]}",
            "created": created.isoformat().replace("+00:00", "Z")}


class BoostedModel(Protocol):
    """What a road or spot forecaster shares for its artifact."""

    name: str
    boosters: dict[int, lgb.Booster]
    quantile_boosters: dict[int, tuple[lgb.Booster, lgb.Booster]]
    interval_margin: dict[int, float]
    info: dict[str, Any]

    @property
    def horizons(self) -> tuple[int, ...]: ...

    @property
    def bucket_s(self) -> int: ...

    @property
    def has_intervals(self) -> bool: ...

    @property
    def spec(self) -> Any: ...


def save_boosted_model(model: BoostedModel, path: Path, *, fmt: str, format_version: int,
                       own: dict[str, Any], training: dict[str, Any] | None,
                       metrics: dict[str, Any] | None, overwrite: bool,
                       city: dict[str, str] | None = None) -> Path:
    """Write ``model``'s boosters and ``model.json`` to ``path`` atomically (see
    :func:`write_model_dir`) and return the path; ``model.info`` becomes the document.
    ``model.json`` holds the format, version id, bucket, horizons, intervals and their
    calibration margins, feature spec and names, booster files, ``training``, library
    versions and ``metrics``, plus the ``own`` fields of the model kind, and ``city`` (a
    :func:`~flowcast.formats.model_city.city_binding`) when given."""

    def fill(folder: Path) -> dict[str, Any]:
        files = write_boosters(folder, model.horizons, model.boosters, model.quantile_boosters)
        spec = model.spec.to_dict()
        return {
            "format": fmt,
            "format_version": format_version,
            **version_stamp(spec, files),
            "model": model.name,
            "bucket_s": model.bucket_s,
            "horizons_steps": list(model.horizons),
            "horizons_min": [h * model.bucket_s / 60 for h in model.horizons],
            "quantiles": [0.1, 0.9] if model.has_intervals else [],
            "interval_margin": {str(h): m for h, m in model.interval_margin.items()},
            **own,
            **({"city": city} if city is not None else {}),
            "feature_spec": spec,
            "feature_names": model.spec.names,
            "boosters": files,
            "training": training or {},
            "libraries": library_versions(),
            "metrics": metrics or {},
        }

    model.info = write_model_dir(path, overwrite, fill)
    return path


def write_model_dir(path: Path, overwrite: bool,
                    fill: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Write a model directory at ``path`` atomically (:func:`~flowcast.formats.atomic.
    write_directory`): ``fill(folder)`` writes the boosters into a hidden sibling and returns
    the ``model.json`` document, which is written beside them before the folder is renamed into
    place. Returns the document."""
    check_out_dir(path, overwrite)

    def fill_and_describe(folder: Path) -> dict[str, Any]:
        doc = fill(folder)
        write_json(folder / MODEL_FILE, doc)
        return doc

    return write_directory(path, fill_and_describe, mode=0o755)


def read_model_doc(path: Path, fmt: str, format_version: int, what: str,
                   missing_hint: str) -> dict[str, Any]:
    """The ``model.json`` of ``path`` with its ``format`` (must be ``fmt``) and format version
    (at most ``format_version``) checked. ``what`` names the kind of model in messages
    ("model", "spot model"); ``missing_hint`` says how to make one."""
    if not path.is_dir():
        raise ModelError(f"{what} {path} does not exist or is not a directory; {missing_hint}")
    file = path / MODEL_FILE
    if not file.is_file():
        raise ModelError(f"{path} holds no {MODEL_FILE}; it is not a flowcast {what} directory")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ModelError(f"{file} cannot be read: {err}") from None
    except json.JSONDecodeError as err:
        raise ModelError(f"{file} is corrupt: not valid JSON at line {err.lineno} column "
                         f"{err.colno} ({err.msg}); re-train or restore the model") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ModelError(f"{file} is not a flowcast {what} (format "
                         f"{doc.get('format') if isinstance(doc, dict) else None!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > format_version:
        raise ModelError(f"{file} has {what} format version {version!r}; this flowcast reads "
                         f"up to {format_version}; upgrade flowcast or re-train the model")
    return doc


def read_booster_text(path: Path, files: Any, horizon: int, kind: str,
                      what: str = "model") -> BoosterText:
    """The text of the ``kind`` booster of ``horizon`` listed in ``files`` (``model.json``'s
    ``boosters``), its checksum checked; not yet given to LightGBM."""
    entry = files.get(str(horizon), {}).get(kind) if isinstance(files, dict) else None
    if not isinstance(entry, dict) or "file" not in entry:
        raise ModelError(f"{path / MODEL_FILE} lists no {kind} booster for horizon {horizon}; "
                         "re-train the model")
    file = path / Path(str(entry["file"])).name
    if not file.is_file():
        raise ModelError(f"{what} {path} is missing its booster file {file.name}; restore it "
                         "or re-train the model")
    data = file.read_bytes()
    if "sha256" in entry and sha256(data) != entry["sha256"]:
        raise ModelError(f"booster file {file} does not match its checksum in {MODEL_FILE} "
                         "(changed or corrupt); restore it or re-train the model")
    try:
        return BoosterText(file, data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ModelError(f"booster file {file} cannot be read by LightGBM ({err})") from None


def load_boosters(texts: list[BoosterText], n_features: int) -> list[lgb.Booster]:
    """``texts`` as LightGBM boosters of ``n_features`` features, each probed in a child
    process first (:func:`~flowcast.formats.booster_probe.probe_boosters`): a booster that
    would crash or hang this process, or predicts nonsense, is refused with a
    :class:`ModelError`."""
    try:
        probe_boosters(texts, n_features)
    except BoosterRefused as err:
        raise ModelError(str(err)) from None
    out = []
    for booster in texts:
        try:
            loaded = lgb.Booster(model_str=booster.text)
        except lgb.basic.LightGBMError as err:
            raise ModelError(f"booster file {booster.file} cannot be read by LightGBM "
                             f"({err})") from None
        if loaded.num_feature() != n_features:
            raise ModelError(f"booster file {booster.file} reads {loaded.num_feature()} "
                             f"features, the feature spec {n_features}; re-train the model")
        out.append(loaded)
    return out


class SpecLike(Protocol):
    """What the loader checks of a kind's feature spec."""

    @property
    def names(self) -> list[str]: ...

    @property
    def n_features(self) -> int: ...

    @property
    def bucket_s(self) -> int: ...


SpecT = TypeVar("SpecT", bound=SpecLike)


@dataclass
class BoostedParts(Generic[SpecT]):
    """A model directory read back and checked: its ``model.json`` ``doc``, feature ``spec``,
    ``horizons`` (buckets), mean ``boosters[h]``, ``quantile_boosters[h]`` = (P10, P90) (empty
    without intervals) and ``interval_margin[h]`` (target units)."""

    doc: dict[str, Any]
    spec: SpecT
    horizons: tuple[int, ...]
    boosters: dict[int, lgb.Booster]
    quantile_boosters: dict[int, tuple[lgb.Booster, lgb.Booster]]
    interval_margin: dict[int, float]


def read_boosted_model(path: Path, doc: dict[str, Any],
                       parse_spec: Callable[[dict[str, Any]], SpecT], *, what: str,
                       check: Callable[[SpecT], None] | None = None,
                       city: CityIds | None = None) -> BoostedParts[SpecT]:
    """Every booster of the model directory ``path`` whose ``model.json`` is ``doc`` (from
    :func:`read_model_doc`), checked. ``parse_spec`` builds the kind's feature spec from
    ``doc["feature_spec"]``; ``check(spec)`` refuses what the caller cannot serve (another
    bucket, target or horizons) before any booster is read; ``city`` (the city served, or
    None: not checked) refuses a model trained for another city
    (:func:`~flowcast.formats.model_city.check_model_city`); ``what`` names the kind in
    messages. Raises :class:`ModelError`: missing keys, an unusable spec, feature names or a
    bucket that disagree with the spec, another city, a missing, altered, misshapen or broken
    booster (one that fails its probe in a child process), unusable margins."""
    try:
        spec = parse_spec(doc["feature_spec"])
        horizons = tuple(int(h) for h in doc["horizons_steps"])
        files = doc["boosters"]
    except KeyError as err:
        raise ModelError(f"{path / MODEL_FILE} lacks {err.args[0]!r}; re-train the model") from None
    except (TypeError, ValueError) as err:
        raise ModelError(f"{path / MODEL_FILE}: unusable feature spec ({err}); this flowcast "
                         "cannot build its features, re-train the model") from None
    if doc.get("feature_names") != spec.names:
        raise ModelError(f"{path / MODEL_FILE}: its feature names do not match its feature "
                         "spec as this flowcast builds it; re-train the model")
    if doc.get("bucket_s") != spec.bucket_s:
        raise ModelError(f"{path / MODEL_FILE}: bucket_s {doc.get('bucket_s')} disagrees with "
                         f"its feature spec ({spec.bucket_s} s)")
    if check is not None:
        check(spec)
    if city is not None:
        check_model_city(path, doc, city, what, ModelError)
    kinds = ("mean", "p10", "p90") if doc.get("quantiles") else ("mean",)
    keys = [(h, kind) for h in horizons for kind in kinds]
    texts = [read_booster_text(path, files, h, kind, what) for h, kind in keys]
    loaded = dict(zip(keys, load_boosters(texts, spec.n_features), strict=True))
    boosters = {h: loaded[h, "mean"] for h in horizons}
    quantiles: dict[int, tuple[lgb.Booster, lgb.Booster]] = {}
    if doc.get("quantiles"):
        quantiles = {h: (loaded[h, "p10"], loaded[h, "p90"]) for h in horizons}
    try:
        margins = {int(h): float(m) for h, m in doc.get("interval_margin", {}).items()}
    except (AttributeError, TypeError, ValueError) as err:
        raise ModelError(f"{path / MODEL_FILE}: unusable interval_margin ({err}); re-train the "
                         "model") from None
    return BoostedParts(doc, spec, horizons, boosters, quantiles, margins)
