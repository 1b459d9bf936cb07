// The guidance screen: routes to one destination ranked best first, with their level now and
// ahead, what the destination spot's saturation means for a driver (full, and where to go
// instead), and a schematic of the network coloured by the level now. Live over server-sent
// events.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const CHIP_HORIZONS = [15, 30, 60];
  const TREND_ARROWS = {worsening: "▲", improving: "▼", steady: "▶"};
  const ADVICE_WORDS = {take: "TAKE", avoid: "AVOID", alternative: "OK", full: "FULL",
    unknown: "NO DATA"};
  const LABEL_SCALES = [1, 0.85, 0.7, 0.55];
  const state = {geometry: null, screen: null, levels: new Map(), paths: new Map()};

  function showMessage(text) {
    const box = document.getElementById("message");
    box.textContent = text;
    box.hidden = !text;
  }

  function setStatus(text, ok) {
    const node = document.getElementById("status");
    node.textContent = text;
    node.className = "status " + (ok ? "ok" : "down");
  }

  // ----- the map ----------------------------------------------------------------------------
  function projector(bbox, width, height, pad) {
    const [x0, y0, x1, y1] = bbox;
    const kx = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
    const spanX = Math.max((x1 - x0) * kx, 1e-9);
    const spanY = Math.max(y1 - y0, 1e-9);
    const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
    const offX = (width - spanX * scale) / 2;
    const offY = (height - spanY * scale) / 2;
    return ([lon, lat]) => [offX + (lon - x0) * kx * scale, height - offY - (lat - y0) * scale];
  }

  function drawMap() {
    const g = state.geometry;
    const map = document.getElementById("map");
    const width = 1000, height = 700;
    map.setAttribute("viewBox", `0 0 ${width} ${height}`);
    map.replaceChildren();
    const project = projector(g.bbox, width, height, 60);
    const onRoutes = new Set();
    const screen = g.screens.find((s) => s.id === state.screenId);
    if (screen) for (const r of screen.routes) for (const s of r.segments) onRoutes.add(s);
    const under = FC.svg("g", {class: "route-under"});
    const roads = FC.svg("g", {class: "roads"});
    for (const seg of g.segments) {
      const points = seg.coords.map((c) => project(c).map((v) => v.toFixed(1)).join(","));
      if (onRoutes.has(seg.id)) {
        under.append(FC.svg("polyline", {points: points.join(" "), class: "route-halo"}));
      }
      const line = FC.svg("polyline", {points: points.join(" "),
        class: "road road-" + seg.class, "data-segment": seg.id, "data-level": "0"});
      line.append(FC.svg("title", {text: seg.name + " (" + seg.id + ")"}));
      roads.append(line);
      state.paths.set(seg.id, line);
    }
    map.append(under, roads);
    // Markers first, then their labels (the screen's own first), placed where they overlap
    // nothing and stay inside the map.
    const labels = [];
    if (screen) {
      const [x, y] = project(screen.lonlat);
      map.append(FC.svg("rect", {x: x - 11, y: y - 11, width: 22, height: 22,
        class: "screen-dot"}));
      labels.push({x, y, r: 13, text: "YOU ARE HERE", kind: "screen"});
    }
    for (const spot of g.spots) {
      const [x, y] = project(spot.lonlat);
      map.append(FC.svg("circle", {cx: x, cy: y, r: 9, class: "spot-dot"}));
      labels.push({x, y, r: 11, text: spot.name, kind: "spot"});
    }
    placeLabels(map, labels, width, height);
    paintMap();
  }

  // Candidate places for a label of font size f around its marker (radius r): the baseline's
  // offset from the marker and the text anchor. Right and left first, then above and below,
  // then the four corners; each clear of the marker itself.
  function labelSpots(r, f) {
    const g = r + 6, mid = 0.35 * f, low = r + 0.8 * f;
    return [[g, mid, "start"], [-g, mid, "end"], [0, -g - 0.25 * f, "middle"],
      [0, g + 0.8 * f, "middle"], [g, -r, "start"], [-g, -r, "end"], [g, low, "start"],
      [-g, low, "end"]];
  }

  function boxOf(b, pad) {
    return {x0: b.x - pad, y0: b.y - pad, x1: b.x + b.width + pad, y1: b.y + b.height + pad};
  }

  function overlapArea(a, b) {
    const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
    const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
    return w > 0 && h > 0 ? w * h : 0;
  }

  // Put each label (in order) where it overlaps no marker and no label placed before it and
  // stays inside the width x height view box, shrinking it when no spot around its marker
  // has room; failing that, where it overlaps least, pulled inside the box.
  function placeLabels(map, labels, width, height) {
    const markers = labels.map((l) => ({x0: l.x - l.r, y0: l.y - l.r, x1: l.x + l.r,
      y1: l.y + l.r}));
    const placed = [];
    for (const label of labels) {
      const node = FC.svg("text", {class: "map-label map-label-" + label.kind,
        text: label.text});
      map.append(node);
      let best = null;
      for (const scale of LABEL_SCALES) {
        const size = 22 * scale;
        node.style.fontSize = size.toFixed(1) + "px";
        for (const [dx, dy, anchor] of labelSpots(label.r, size)) {
          node.setAttribute("x", (label.x + dx).toFixed(1));
          node.setAttribute("y", (label.y + dy).toFixed(1));
          node.setAttribute("text-anchor", anchor);
          const box = boxOf(node.getBBox(), 3);
          const outside = Math.max(0, -box.x0) + Math.max(0, box.x1 - width) +
            Math.max(0, -box.y0) + Math.max(0, box.y1 - height);
          const overlap = markers.concat(placed).reduce((sum, o) => sum + overlapArea(box, o),
            0);
          const cost = outside * 1e6 + overlap;
          if (best === null || cost < best.cost) {
            best = {cost, scale, anchor, x: node.getAttribute("x"), y: node.getAttribute("y")};
          }
          if (cost === 0) break;
        }
        if (best.cost === 0) break;
      }
      node.style.fontSize = (22 * best.scale).toFixed(1) + "px";
      node.setAttribute("x", best.x);
      node.setAttribute("y", best.y);
      node.setAttribute("text-anchor", best.anchor);
      let box = boxOf(node.getBBox(), 3);
      const shiftX = Math.max(0, -box.x0) - Math.max(0, box.x1 - width);
      const shiftY = Math.max(0, -box.y0) - Math.max(0, box.y1 - height);
      if (shiftX || shiftY) {
        node.setAttribute("x", (Number(best.x) + shiftX).toFixed(1));
        node.setAttribute("y", (Number(best.y) + shiftY).toFixed(1));
        box = boxOf(node.getBBox(), 3);
      }
      placed.push(box);
    }
  }

  const paintMap = FC.batched(() => {
    for (const [segment, path] of state.paths) {
      const level = state.levels.get(segment) || 0;
      path.style.stroke = FC.levelColour(level);
      path.dataset.level = String(level);
    }
    document.body.dataset.segmentsLive = String(state.levels.size);
  });

  function drawLegend() {
    const legend = document.getElementById("legend");
    legend.replaceChildren();
    for (let level = 1; level <= 5; level++) {
      legend.append(FC.el("span", {class: "legend-item"},
        FC.el("span", {class: "swatch", style: "background:" + FC.levelColour(level)}),
        `${level} ${FC.levelWord(level)}`));
    }
  }

  // ----- the routes -------------------------------------------------------------------------
  function chip(label, level, travel) {
    const lv = level || 0;
    return FC.el("div", {class: "chip", "data-level": String(lv),
      style: `background:${FC.levelColour(lv)};color:${FC.levelInk(lv)}`,
      title: FC.levelWord(lv)},
      FC.el("div", {class: "chip-when", text: label}),
      FC.el("div", {class: "chip-level", text: lv ? String(lv) : "?"}),
      FC.el("div", {class: "chip-time", text: FC.minutes(travel) + " min"}));
  }

  function routeCard(route) {
    const now = route.now || {};
    const byHorizon = new Map((route.forecast || []).map((f) => [f.horizon_min, f]));
    const first = (route.forecast || [])[0] || {};
    const advice = route.advice || "unknown";
    const chips = FC.el("div", {class: "chips"}, chip("now", now.level, now.travel_time_s));
    for (const h of CHIP_HORIZONS) {
      const f = byHorizon.get(h) || {};
      chips.append(chip("+" + h, f.level, f.travel_time_s));
    }
    const level = now.level || 0;
    return FC.el("article", {class: "route advice-" + advice, "data-route": route.route,
      "data-rank": String(route.rank ?? ""), "data-advice": advice,
      "data-road-advice": route.road_advice || ""},
      FC.el("div", {class: "rank", text: route.rank ? String(route.rank) : "–"}),
      FC.el("div", {class: "route-body"},
        FC.el("div", {class: "route-name", text: route.name}),
        FC.el("div", {class: "route-time"},
          FC.el("span", {class: "big-time", text: FC.minutes(first.travel_time_s ??
            now.travel_time_s)}), " min",
          FC.el("span", {class: "level-word", text: `  now ${level || "?"} · ` +
            FC.levelWord(level)}),
          route.trend ? FC.el("span", {class: "trend trend-" + route.trend,
            text: "  " + (TREND_ARROWS[route.trend] || "") + " " + route.trend}) : null),
        chips),
      FC.el("div", {class: "advice", text: ADVICE_WORDS[advice] || advice.toUpperCase()}));
  }

  // What the destination spot's saturation means for a driver: "Wuzhizhou Island full, expect
  // entry limits" and where the bureau sends arrivals instead.
  function drawNotice(spot) {
    const box = document.getElementById("notice");
    const shown = Boolean(spot && spot.notice);
    box.hidden = !shown;
    box.className = "notice" + (shown ? " notice-" + spot.state : "");
    box.dataset.state = spot ? spot.state : "";
    box.dataset.spot = spot ? spot.spot : "";
    document.getElementById("notice-text").textContent = shown ? spot.notice : "";
    document.getElementById("notice-instead").textContent = shown ? (spot.instead || "") : "";
  }

  function drawScreen() {
    const s = state.screen;
    if (!s) return;
    drawNotice(s.destination_spot);
    document.getElementById("screen-name").textContent = s.name;
    document.getElementById("destination").textContent = s.destination;
    document.getElementById("issued").textContent = FC.clock(s.issued_at);
    document.body.dataset.issuedAt = String(s.issued_at ?? "");
    const box = document.getElementById("routes");
    const routes = [...s.routes].sort((a, b) => (a.rank ?? 99) - (b.rank ?? 99));
    box.replaceChildren(...routes.map(routeCard));
    if (s.issued_at === null) showMessage("Waiting for the first forecast…");
    else showMessage("");
  }

  // ----- start ------------------------------------------------------------------------------
  // Current levels and the screen's ranking from the API; events already received win unless
  // `replace` (after a reconnect, when events may have been missed).
  async function load(replace) {
    const conditions = await FC.getJSON("/api/conditions");
    for (const c of conditions.conditions) {
      if (replace || !state.levels.has(c.segment)) {
        state.levels.set(c.segment, c.now && c.now.level);
      }
    }
    paintMap();
    if (state.screenId) {
      const screen = await FC.getJSON("/api/screens/" + encodeURIComponent(state.screenId));
      if (!state.screen || (screen.issued_at ?? 0) >= (state.screen.issued_at ?? 0)) {
        state.screen = screen;
      }
      drawScreen();
    }
  }

  async function start() {
    drawLegend();
    try {
      state.geometry = await FC.getJSON("/api/city/geometry");
      FC.setZone(state.geometry.timezone);
      const screens = state.geometry.screens;
      state.screenId = params.get("id") || (screens[0] && screens[0].id);
      if (!state.screenId) {
        showMessage("This city has no guidance screens.");
      }
      drawMap();
      FC.liveEvents({
        condition: (m) => { state.levels.set(m.segment, m.now && m.now.level); paintMap(); },
        screen: (m) => { if (m.screen === state.screenId) { state.screen = m; drawScreen(); } },
      }, setStatus, () => load(true).catch((err) => showMessage(err.message)));
      await load(false);
      document.body.dataset.loaded = "true";
    } catch (err) {
      showMessage("Cannot load the screen: " + err.message);
    }
  }

  start();
})();
