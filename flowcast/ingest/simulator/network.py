"""A synthetic road network: a jittered grid of intersections around Haikou.

Every grid line is a two-way road (one segment per direction between adjacent intersections);
every fourth line is an arterial, every other a secondary road, the rest branch roads. A few
rows and columns also carry an elevated expressway whose segments span several blocks between
interchanges. Segment ``a -> b`` feeds every segment leaving ``b`` except the U-turn back to
``a``, so the up/downstream links follow the geometry. Regions are rectangular blocks of the
grid holding similar numbers of segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from flowcast.city import DEFAULT_CAPACITY_VPHPL, ROAD_CLASSES, Csr

CENTRE_LONLAT = (110.33, 20.01)
MAX_EXTENT_M = (40_000.0, 26_000.0)  # east-west, north-south
TARGET_SPACING_M = 550.0
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE_LONLAT[1]))
EXPRESSWAY, ARTERIAL, SECONDARY, BRANCH = range(4)

_EW_NAMES = ("Binhai Avenue", "Haixiu Road", "Nanhai Avenue", "Jinmao Road", "Haifu Road",
             "Fengxiang Road", "Qiongzhou Avenue", "Nansha Road", "Xiuying Avenue", "Yehai Avenue")
_NS_NAMES = ("Longkun Road", "Guoxing Avenue", "Renmin Avenue", "Longhua Road", "Datong Road",
             "Binjiang Road", "Meilan Avenue", "Lantian Road", "Xueyuan Road", "Baiju Avenue")
_EXPRESSWAY_NAMES = ("Ring Expressway", "Haiwen Expressway", "Yehai Elevated",
                     "Round-Island Expressway", "Airport Expressway", "Xiuying Elevated")


@dataclass
class Network:
    """Arrays of a generated network. Nodes are intersections on an ``rows x cols`` grid
    (node ``i * cols + j``); segments are directed links between nodes."""

    rows: int
    cols: int
    node_xy: np.ndarray  # (rows * cols, 2) metres east/north of the centre
    seg_from: np.ndarray  # (G,) node index
    seg_to: np.ndarray  # (G,) node index
    seg_class: np.ndarray  # (G,) int8 code into ROAD_CLASSES
    seg_name: list[str]
    seg_lanes: np.ndarray  # (G,) int16
    seg_free_flow: np.ndarray  # (G,) km/h
    seg_capacity: np.ndarray  # (G,) vehicles / hour / lane
    seg_length: np.ndarray  # (G,) metres
    seg_region: np.ndarray  # (G,) int32
    n_regions: int
    downstream: Csr

    @property
    def n_segments(self) -> int:
        """Number of directed segments."""
        return len(self.seg_from)

    def segment_lookup(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Index of the local (single-block) segment from node ``a`` to node ``b``; -1 if none."""
        n = self.rows * self.cols
        local = self.seg_class != EXPRESSWAY
        keys = self.seg_from[local].astype(np.int64) * n + self.seg_to[local]
        order = np.argsort(keys)
        want = np.asarray(a, np.int64) * n + np.asarray(b, np.int64)
        pos = np.clip(np.searchsorted(keys[order], want), 0, len(keys) - 1)
        found = keys[order][pos] == want
        return np.where(found, np.flatnonzero(local)[order][pos], -1)


def to_lonlat(xy: np.ndarray) -> np.ndarray:
    """Metres east/north of the city centre to WGS84 lon/lat degrees, shape ``(..., 2)``."""
    lon = CENTRE_LONLAT[0] + xy[..., 0] / M_PER_DEG_LON
    lat = CENTRE_LONLAT[1] + xy[..., 1] / M_PER_DEG_LAT
    return np.stack([lon, lat], axis=-1)


def grid_shape(n_segments: int) -> tuple[int, int]:
    """Rows and columns of a grid with about ``n_segments`` local directed segments
    (``2 * (2 * rows * cols - rows - cols)``), wider than tall like the Haikou box."""
    aspect = MAX_EXTENT_M[0] / MAX_EXTENT_M[1]
    rows = max(2, round(math.sqrt(max(n_segments, 1) / (4 * aspect))))
    best = min(range(2, max(3, 4 * rows)),
               key=lambda c: abs(2 * (2 * rows * c - rows - c) - n_segments))
    return rows, best


def build_network(n_segments: int, target_sensors: int, rng: np.random.Generator) -> Network:
    """Generate a network with about ``n_segments`` directed segments; regions are sized
    for ``target_sensors`` sensors (about ``3 sqrt(N)`` each, clipped to 50..500)."""
    rows, cols = grid_shape(n_segments)
    node_xy, spacing = _nodes(rows, cols, rng)
    row_class = _line_classes(rows)
    col_class = _line_classes(cols)
    a, b, cls, line, horizontal = _local_links(rows, cols, row_class, col_class)
    hop = max(3, round(1500.0 / spacing))
    ea, eb, eline, ehor = _expressway_links(rows, cols, hop)
    seg_from = np.concatenate([a, ea])
    seg_to = np.concatenate([b, eb])
    seg_class = np.concatenate([cls, np.full(len(ea), EXPRESSWAY, np.int8)])
    is_hor = np.concatenate([horizontal, ehor])
    line_all = np.concatenate([line, eline])
    lanes, free_flow = _line_attributes(rows, cols, seg_class, line_all, is_hor, rng)
    straight = np.hypot(*(node_xy[seg_to] - node_xy[seg_from]).T)
    length = np.clip(np.round(straight * rng.uniform(1.02, 1.25, len(straight)), 1), 200, 3000)
    capacity = np.array([DEFAULT_CAPACITY_VPHPL[c] for c in ROAD_CLASSES])[seg_class]
    capacity = np.round(capacity * rng.uniform(0.92, 1.08, len(seg_class)), -1)
    names = _names(seg_class, line_all, is_hor, node_xy[seg_to] - node_xy[seg_from])
    region, n_regions = _regions(rows, cols, np.minimum(seg_from, seg_to), target_sensors)
    return Network(rows, cols, node_xy, seg_from, seg_to, seg_class, names, lanes, free_flow,
                   capacity, length, region, n_regions,
                   _downstream(rows * cols, seg_from, seg_to))


def _nodes(rows: int, cols: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    spacing = min(TARGET_SPACING_M, MAX_EXTENT_M[0] / max(cols - 1, 1),
                  MAX_EXTENT_M[1] / max(rows - 1, 1))
    gaps_x = rng.uniform(0.6, 1.4, cols - 1) * spacing
    gaps_y = rng.uniform(0.6, 1.4, rows - 1) * spacing
    x = np.concatenate([[0.0], np.cumsum(gaps_x)])
    y = np.concatenate([[0.0], np.cumsum(gaps_y)])
    x -= x.mean()
    y -= y.mean()
    xy = np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2)
    xy += rng.normal(0.0, 0.06 * spacing, xy.shape)
    return xy, spacing


def _line_classes(n: int) -> np.ndarray:
    idx = np.arange(n)
    kind = np.where(idx % 4 == 0, ARTERIAL, np.where(idx % 2 == 0, SECONDARY, BRANCH))
    return kind.astype(np.int8)


def _local_links(
    rows: int, cols: int, row_class: np.ndarray, col_class: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both directions of every block-long road piece: (from, to, class, line, horizontal)."""
    node = np.arange(rows * cols).reshape(rows, cols)
    h_a, h_b = node[:, :-1].ravel(), node[:, 1:].ravel()
    h_line = np.repeat(np.arange(rows), cols - 1)
    v_a, v_b = node[:-1, :].ravel(), node[1:, :].ravel()
    v_line = np.tile(np.arange(cols), rows - 1)
    a = np.concatenate([h_a, h_b, v_a, v_b])
    b = np.concatenate([h_b, h_a, v_b, v_a])
    line = np.concatenate([h_line, h_line, v_line, v_line])
    horizontal = np.concatenate([np.ones(2 * len(h_a), bool), np.zeros(2 * len(v_a), bool)])
    cls = np.concatenate([row_class[h_line], row_class[h_line], col_class[v_line],
                          col_class[v_line]])
    return a, b, cls.astype(np.int8), line, horizontal


def _expressway_lines(n: int) -> np.ndarray:
    count = min(3, n // 8)
    return np.array([(k + 1) * n // (count + 1) for k in range(count)], dtype=np.int64)


def _expressway_links(
    rows: int, cols: int, hop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expressway corridors along some rows and columns, interchanges every ``hop`` nodes."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []
    for horizontal, lines, length in ((True, _expressway_lines(rows), cols),
                                      (False, _expressway_lines(cols), rows)):
        stops = np.arange(0, length, hop)
        if len(stops) < 2:
            continue
        for k, ln in enumerate(lines):
            nodes = ln * cols + stops if horizontal else stops * cols + ln
            start, end = nodes[:-1], nodes[1:]
            tag = np.full(len(start), k if horizontal else k + 3)
            parts.append((np.concatenate([start, end]), np.concatenate([end, start]),
                          np.concatenate([tag, tag]), horizontal))
    if not parts:
        empty = np.empty(0, np.int64)
        return empty, empty, empty, np.empty(0, bool)
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    line = np.concatenate([p[2] for p in parts])
    horizontal = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
    return a, b, line, horizontal


def _line_attributes(
    rows: int, cols: int, seg_class: np.ndarray, line: np.ndarray, horizontal: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Lanes per direction and free-flow speed, constant along each road (line)."""
    n_lines = rows + cols + 6  # row lines, column lines, expressway corridors
    line_key = np.where(seg_class == EXPRESSWAY, rows + cols + line,
                        np.where(horizontal, line, rows + line))
    lane_draw = rng.random(n_lines)[line_key]
    speed_draw = rng.random(n_lines)[line_key]
    lanes = np.select(
        [seg_class == EXPRESSWAY, seg_class == ARTERIAL, seg_class == SECONDARY],
        [3 + (lane_draw < 0.3), 2 + (lane_draw < 0.6) + (lane_draw < 0.1), 1 + (lane_draw < 0.7)],
        1 + (lane_draw < 0.2),
    ).astype(np.int16)
    free_flow = np.select(
        [seg_class == EXPRESSWAY, seg_class == ARTERIAL, seg_class == SECONDARY],
        [80.0 + 5 * np.floor(speed_draw * 5), 50.0 + 5 * np.floor(speed_draw * 3), 40.0],
        30.0,
    )
    return lanes, free_flow


def _names(seg_class: np.ndarray, line: np.ndarray, horizontal: np.ndarray,
           direction: np.ndarray) -> list[str]:
    """'<road> <direction>bound' for every segment."""
    heading = np.where(horizontal, np.where(direction[:, 0] >= 0, "east", "west"),
                       np.where(direction[:, 1] >= 0, "north", "south"))
    road = np.where(
        seg_class == EXPRESSWAY,
        np.array(_EXPRESSWAY_NAMES, dtype=object)[np.minimum(line, len(_EXPRESSWAY_NAMES) - 1)],
        np.where(horizontal, _line_names(line, _EW_NAMES, "Heng"),
                 _line_names(line, _NS_NAMES, "Zong")),
    )
    return [f"{r} {h}bound" for r, h in zip(road.tolist(), heading.tolist(), strict=True)]


def _line_names(line: np.ndarray, named: tuple[str, ...], numbered: str) -> np.ndarray:
    """Arterial lines (every fourth) take real-sounding names, others '<Heng|Zong> N Road'."""
    top = int(line.max(initial=0)) + 1
    names = np.array([_line_name(i, named, numbered) for i in range(top)], dtype=object)
    return names[line]


def _line_name(i: int, named: tuple[str, ...], numbered: str) -> str:
    if i % 4:
        return f"{numbered} {i + 1} Road"
    rank = i // 4
    return named[rank % len(named)] + ("" if rank < len(named) else f" {rank // len(named) + 1}")


def _regions(rows: int, cols: int, anchor: np.ndarray, n_sensors: int) -> tuple[np.ndarray, int]:
    """Region index of each segment (by the grid block of its anchor node) and the count."""
    size = min(500, max(50, round(3 * math.sqrt(max(n_sensors, 1)))))
    wanted = max(1, math.ceil(n_sensors / size))
    br = max(1, min(rows, round(math.sqrt(wanted * rows / cols))))
    bc = max(1, min(cols, math.ceil(wanted / br)))
    i, j = anchor // cols, anchor % cols
    block = (i * br // rows) * bc + (j * bc // cols)
    used, region = np.unique(block, return_inverse=True)
    return region.astype(np.int32), len(used)


def _downstream(n_nodes: int, seg_from: np.ndarray, seg_to: np.ndarray) -> Csr:
    """Segment -> segments leaving its end node, U-turns excluded."""
    order = np.argsort(seg_from, kind="stable")
    out_ptr = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(np.bincount(seg_from, minlength=n_nodes), out=out_ptr[1:])
    count = out_ptr[seg_to + 1] - out_ptr[seg_to]
    src = np.repeat(np.arange(len(seg_from)), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    dst = order[out_ptr[seg_to][src] + within]
    keep = seg_to[dst] != seg_from[src]
    return Csr.from_edges(len(seg_from), src[keep], dst[keep])
