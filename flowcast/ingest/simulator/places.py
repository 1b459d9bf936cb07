"""Scenic spots and guidance screens of a generated city."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowcast.ingest.simulator.network import EXPRESSWAY, Network, to_lonlat

SPOT_NAMES: tuple[str, ...] = (
    "Wuzhizhou Island", "Qilou Old Street", "Holiday Beach", "Hainan Tropical Wildlife Park",
    "Haikou Volcanic Cluster Geopark", "Wanlv Park", "Five Lords Temple", "Xiuying Fort",
    "Dongzhaigang Mangroves", "Hainan Museum", "Mission Hills Film Town", "Haikou Bay Beach",
    "Qiongtai Academy", "Hai Rui Tomb", "Baishamen Park", "Yanoda Rainforest",
    "Nanshan Temple", "Yalong Bay", "Tianya Haijiao", "Luhuitou Park",
)
_HOURS: tuple[tuple[str, str], ...] = (("08:00", "18:00"), ("08:30", "17:30"),
                                       ("07:30", "18:30"), ("09:00", "22:00"))


@dataclass
class Spots:
    """Generated scenic spots, aligned arrays."""

    ids: list[str]
    names: list[str]
    node: np.ndarray  # (K,) nearest network node
    lonlat: np.ndarray  # (K, 2)
    capacity_instant: np.ndarray  # (K,) visitors
    capacity_daily: np.ndarray  # (K,) visitors
    opens: list[str]
    closes: list[str]
    region: np.ndarray  # (K,) int32


def make_spots(net: Network, n_spots: int, node_region: np.ndarray,
               rng: np.random.Generator) -> Spots:
    """``n_spots`` spots spread over the network (farthest-point placement). The first is the
    flagship: the largest, open 08:00-18:00."""
    nodes = _spread_nodes(net.node_xy, n_spots, rng)
    names = [SPOT_NAMES[k % len(SPOT_NAMES)]
             + ("" if k < len(SPOT_NAMES) else f" {k // len(SPOT_NAMES) + 1}")
             for k in range(n_spots)]
    ids = [re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") for name in names]
    daily = np.round(rng.uniform(8_000, 45_000, n_spots), -2)
    instant = np.round(daily * rng.uniform(0.25, 0.4, n_spots), -2)
    hours = [_HOURS[i] for i in rng.integers(0, len(_HOURS), n_spots)]
    if n_spots:
        daily[0], instant[0], hours[0] = 60_000.0, 18_000.0, _HOURS[0]
    offset = rng.normal(0.0, 120.0, (n_spots, 2))
    return Spots(ids, names, nodes, to_lonlat(net.node_xy[nodes] + offset), instant, daily,
                 [h[0] for h in hours], [h[1] for h in hours], node_region[nodes])


def _spread_nodes(xy: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` node indices far from each other (greedy farthest-point from a random start);
    nodes are reused only when there are fewer nodes than spots."""
    chosen = [int(rng.integers(len(xy)))] if k else []
    dist = np.full(len(xy), np.inf)
    for _ in range(1, k):
        dist = np.minimum(dist, np.hypot(*(xy - xy[chosen[-1]]).T))
        if dist.max() == 0:
            dist[:] = np.inf
        chosen.append(int(np.argmax(dist)))
    return np.array(chosen, dtype=np.int64)


def make_screens(net: Network, spots: Spots, segment_ids: list[str]) -> list[dict[str, Any]]:
    """One or two guidance-screen features (GeoJSON), each with two or three alternative
    routes (chains of connected segments) from the screen's intersection to a destination."""
    count = 2 if net.rows >= 6 and net.cols >= 6 else 1
    screens: list[dict[str, Any]] = []
    for s in range(count):
        if len(spots.ids):
            k = s % len(spots.ids)
            dest, dest_name = int(spots.node[k]), spots.names[k]
        else:
            dest = (net.rows // 2) * net.cols + net.cols // 2 - s
            dest_name = "City Centre"
        routes = next((r for w in range(s, s + 4) if len(r := _routes(net, dest, w)) >= 2),
                      None)
        if routes is None:  # no two ways to the destination from any side: no screen
            continue
        origin = int(net.seg_from[routes[0][1][0]])
        lonlat = to_lonlat(net.node_xy[origin]).round(6).tolist()
        sid = f"VMS{len(screens) + 1:02d}"
        screens.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": lonlat},
            "properties": {
                "kind": "screen", "id": sid, "name": f"Guidance screen {len(screens) + 1}",
                "destination": dest_name,
                "routes": [{"id": f"{sid}-{tag}", "name": name,
                            "segments": [segment_ids[g] for g in segs.tolist()]}
                           for tag, (name, segs) in zip("ABC", routes, strict=False)],
            },
        })
    return screens


def _routes(net: Network, dest: int, which: int) -> list[tuple[str, np.ndarray]]:
    """Alternative paths from an origin a few blocks away to ``dest``: row-then-column,
    column-then-row, and (when there is room) a staircase through the middle. A straight walk
    that meets a missing local link becomes the shortest path around it; paths that come out
    the same are kept once, and when fewer than two remain, the shortest path avoiding the
    first route's segments is added."""
    di, dj = divmod(dest, net.cols)
    dr, dc = min(3, net.rows - 1), min(4, net.cols - 1)
    oi = _away(di, dr, net.rows, low_first=which == 0)
    oj = _away(dj, dc, net.cols, low_first=which == 0)
    paths = [[(oi, oj), (oi, dj), (di, dj)], [(oi, oj), (di, oj), (di, dj)]]
    if dr >= 2 and dc >= 2:
        mi, mj = (oi + di) // 2, (oj + dj) // 2
        paths.append([(oi, oj), (oi, mj), (mi, mj), (mi, dj), (di, dj)])
    chains: list[np.ndarray] = []
    for corners in paths:
        segs = _chain(net, _walk(corners, net.cols))
        if segs is not None and len(segs) and not any(np.array_equal(segs, c) for c in chains):
            chains.append(segs)
    if len(chains) == 1:
        other = _shortest_path(net, int(net.seg_from[chains[0][0]]),
                               int(net.seg_to[chains[0][-1]]), avoid=set(chains[0].tolist()))
        if other is not None and len(other):
            chains.append(other)
    return [(f"via {net.seg_name[int(segs[0])].rsplit(' ', 1)[0]}", segs) for segs in chains]


def _chain(net: Network, nodes: np.ndarray) -> np.ndarray | None:
    """The local segments walking ``nodes``; where a link is missing, the shortest path
    between the walk's ends instead (None when there is none)."""
    segs = net.segment_lookup(nodes[:-1], nodes[1:])
    if (segs >= 0).all():
        return segs
    return _shortest_path(net, int(nodes[0]), int(nodes[-1]))


def _shortest_path(net: Network, origin: int, dest: int,
                   avoid: set[int] | None = None) -> np.ndarray | None:
    """Fewest local (non-expressway) segments from node ``origin`` to node ``dest``, never
    using a segment in ``avoid`` (breadth first); None when ``dest`` cannot be reached."""
    local = np.flatnonzero(net.seg_class != EXPRESSWAY)
    if avoid:
        local = local[~np.isin(local, list(avoid))]
    out: dict[int, list[int]] = {}
    for g in local.tolist():
        out.setdefault(int(net.seg_from[g]), []).append(g)
    came: dict[int, int] = {origin: -1}
    frontier = [origin]
    while frontier and dest not in came:
        nxt = []
        for node in frontier:
            for g in out.get(node, []):
                to = int(net.seg_to[g])
                if to not in came:
                    came[to] = g
                    nxt.append(to)
        frontier = nxt
    if dest not in came:
        return None
    path = []
    node = dest
    while came[node] >= 0:
        path.append(came[node])
        node = int(net.seg_from[came[node]])
    return np.array(path[::-1], dtype=np.int64)


def _away(at: int, span: int, n: int, low_first: bool) -> int:
    """A grid line ``span`` lines from ``at`` (``span < n``), on the preferred side if it fits;
    when neither side fits, the edge line farther from ``at``."""
    low, high = at - span, at + span
    fits = [line for line in ((low, high) if low_first else (high, low)) if 0 <= line < n]
    if fits:
        return fits[0]
    return 0 if at >= n - 1 - at else n - 1


def _walk(corners: list[tuple[int, int]], cols: int) -> np.ndarray:
    """Node indices visited walking straight between consecutive grid corners."""
    cells: list[tuple[int, int]] = [corners[0]]
    for (i0, j0), (i1, j1) in itertools.pairwise(corners):
        step_i, step_j = np.sign(i1 - i0), np.sign(j1 - j0)
        i, j = i0, j0
        while (i, j) != (i1, j1):
            i, j = i + step_i, j + step_j
            cells.append((int(i), int(j)))
    return np.array([i * cols + j for i, j in cells], dtype=np.int64)
