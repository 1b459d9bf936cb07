// The tourism bureau's page: every spot's saturation (now and its peak, with its time), today's
// curve, today's and tomorrow's expected arrivals against the daily capacity, and the
// saturation alerts (the figures they were sent with beside today's, their history and an
// Acknowledge button; cancelled ones folded away below the active ones). Live over SSE.
"use strict";

(() => {
  const TOKEN_KEY = "flowcast-token";
  const spots = new Map(); // spot id -> latest /api/spots/{id} answer
  let order = []; // spot ids in the registry's order
  let cancelledOpen = false; // whether the reader unfolded the cancelled alerts

  // "Today" for the times on the page: the newest forecast's issue time (a replay or the demo
  // runs on its own clock), else the browser's clock.
  function dataNow() {
    const times = [...spots.values()].map((s) => s.forecast && s.forecast.issued_at)
      .filter((t) => Number.isFinite(t));
    return times.length ? Math.max(...times) : Date.now();
  }

  function when(ms) {
    return FC.when(ms, dataNow());
  }

  // The peak to show for figures (a spot entry or an alert's `current`): ahead of now and never
  // below it, or, once the forecast stays below what today already saw, the day's high, passed.
  function peakOf(f) {
    if (f.peak_passed) return {ratio: f.day_high, at: f.day_high_at, passed: true};
    return {ratio: f.saturation_peak, at: f.peak_at, passed: false,
      now: f.peak_at !== null && f.peak_at === f.issued_at};
  }

  function peakLabel(peak) {
    if (peak.ratio === null || peak.ratio === undefined) return "peak";
    return peak.now ? "peak now" : "peak " + when(peak.at);
  }

  function showMessage(text, kind) {
    const box = document.getElementById("message");
    box.textContent = text;
    box.className = "message " + (kind || "error");
    box.hidden = !text;
  }

  function setStatus(text, ok) {
    const node = document.getElementById("status");
    node.textContent = text;
    node.className = "status " + (ok ? "ok" : "down");
  }

  function satClass(ratio, warn, critical) {
    if (ratio === null || ratio === undefined) return "sat-unknown";
    if (ratio >= critical) return "sat-critical";
    if (ratio >= warn) return "sat-warning";
    return "sat-ok";
  }

  // ----- gauge: now and the peak (with its time) against the warning and critical marks ----
  function gauge(spot) {
    const peak = peakOf(spot);
    const rows = [["now", spot.saturation_now, "now"],
      [peakLabel(peak), peak.ratio, peak.passed ? "peak-passed" : "peak"]];
    const left = Math.max(70, 10 + 7.5 * Math.max(...rows.map((r) => r[0].length)));
    const width = left + 290, row = 22, top = 18;
    const maxRatio = Math.max(1.2, spot.saturation_now || 0, peak.ratio || 0);
    const x = (r) => left + (width - left - 10) * Math.min(r, maxRatio) / maxRatio;
    const box = FC.svg("svg", {viewBox: `0 0 ${width} ${top + 2 * row + 8}`, class: "gauge",
      role: "img", "aria-label": "saturation now and its peak"});
    rows.forEach(([label, r, kind], i) => {
      const y = top + i * row;
      box.append(FC.svg("text", {x: 4, y: y + 14, class: "gauge-label", text: label}),
        FC.svg("rect", {x: left, y, width: width - left - 10, height: row - 6,
          class: "gauge-track"}));
      if (r !== null && r !== undefined) {
        box.append(FC.svg("rect", {x: left, y, width: Math.max(1, x(r) - left),
          height: row - 6, class: "gauge-bar " + satClass(r, spot.warn, spot.critical),
          "data-kind": kind, "data-ratio": String(r)}));
        // the value after the bar, or inside its end when the bar reaches the gauge's end
        const after = x(r) + 4 <= width - 44;
        box.append(FC.svg("text", {x: after ? x(r) + 4 : x(r) - 4, y: y + 13,
          "text-anchor": after ? "start" : "end",
          class: "gauge-value" + (after ? "" : " gauge-value-in"), text: FC.percent(r)}));
      }
    });
    for (const [ratio, name] of [[spot.warn, "warn"], [spot.critical, "critical"]]) {
      box.append(FC.svg("line", {x1: x(ratio), x2: x(ratio), y1: top - 6, y2: top + 2 * row,
        class: "mark mark-" + name}),
        FC.svg("text", {x: x(ratio) - 12, y: top - 8, class: "mark-label",
          text: FC.percent(ratio)}));
    }
    return box;
  }

  // Said in words when the peak is behind: what it was, when, and the most the forecast
  // expects from now on.
  function peakNote(spot) {
    const peak = peakOf(spot);
    if (!peak.passed) return null;
    const at = spot.day_high_at === spot.issued_at ? "now" : "at " + when(peak.at);
    return FC.el("div", {class: "peak-note", "data-passed": "true",
      text: `peak passed: ${FC.percent(peak.ratio)} ${at}; at most ` +
        `${FC.percent(spot.forecast_peak)} ahead (${when(spot.forecast_peak_at)})`});
  }

  // ----- today's curve: visitors so far and the latest forecast (with its interval) --------
  function curve(spot) {
    const width = 640, height = 220, left = 54, right = 12, top = 12, bottom = 26;
    const observed = (spot.curve || []).filter((p) => p.visitors !== null)
      .map((p) => [p.issued_at, p.visitors]);
    const forecast = ((spot.forecast && spot.forecast.forecast) || [])
      .filter((f) => f.visitors !== null);
    const box = FC.svg("svg", {viewBox: `0 0 ${width} ${height}`, class: "curve", role: "img",
      "aria-label": "visitors today and forecast"});
    if (!observed.length) {
      box.append(FC.svg("text", {x: width / 2 - 60, y: height / 2, class: "muted-svg",
        text: "no data yet today"}));
      return box;
    }
    const times = observed.map((p) => p[0]).concat(forecast.map((f) => f.valid_at));
    const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 3600e3);
    const highs = observed.map((p) => p[1]).concat(forecast.map((f) => f.visitors_p90 ??
      f.visitors));
    const vmax = Math.max(spot.capacity_instant * 1.1, ...highs);
    const x = (t) => left + (width - left - right) * (t - t0) / (t1 - t0);
    const y = (v) => height - bottom - (height - top - bottom) * v / vmax;
    for (const [ratio, name] of [[spot.warn, "warn"], [spot.critical, "critical"]]) {
      const v = ratio * spot.capacity_instant;
      box.append(FC.svg("line", {x1: left, x2: width - right, y1: y(v), y2: y(v),
        class: "mark mark-" + name}),
        FC.svg("text", {x: 2, y: y(v) + 4, class: "axis", text: FC.percent(ratio)}));
    }
    const band = forecast.filter((f) => f.visitors_p10 != null && f.visitors_p90 != null);
    if (band.length) {
      const upper = band.map((f) => `${x(f.valid_at)},${y(f.visitors_p90)}`);
      const lower = band.slice().reverse().map((f) => `${x(f.valid_at)},${y(f.visitors_p10)}`);
      box.append(FC.svg("polygon", {points: upper.concat(lower).join(" "), class: "band"}));
    }
    box.append(FC.svg("polyline", {class: "observed",
      points: observed.map((p) => `${x(p[0])},${y(p[1])}`).join(" ")}));
    if (forecast.length) {
      const last = observed[observed.length - 1];
      const pts = [last].concat(forecast.map((f) => [f.valid_at, f.visitors]));
      box.append(FC.svg("polyline", {class: "forecast",
        points: pts.map((p) => `${x(p[0])},${y(p[1])}`).join(" ")}));
    }
    for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
      box.append(FC.svg("text", {x: x(t), y: height - 6, class: "axis", "text-anchor": anchor,
        text: FC.clock(t)}));
    }
    box.dataset.points = String(observed.length);
    return box;
  }

  // ----- the day view: arrivals today against the daily capacity, and tomorrow -------------
  function count(n) {
    return Math.round(n).toLocaleString();
  }

  function dayPercent(ratio, spot) {
    return FC.el("span", {class: "day-sat " + satClass(ratio, spot.warn, spot.critical),
      text: FC.percent(ratio)});
  }

  function dayLine(spot) {
    const day = spot.forecast && spot.forecast.day;
    if (!day) return null;
    const line = FC.el("div", {class: "spot-day", "data-date": day.date,
      "data-saturation": day.saturation ?? "",
      "data-tomorrow-saturation": (day.tomorrow && day.tomorrow.saturation) ?? "",
      title: `${day.method}: the rest of the day as on ${day.reference_date || "-"}, ` +
        `scaled by today's pace; daily capacity ${count(day.capacity_daily)}`});
    const soFar = day.arrivals_so_far === null ? "no" : count(day.arrivals_so_far);
    line.append(`today: ${soFar} arrivals so far, `);
    if (day.expected_arrivals === null) {
      line.append("expected total unknown");
    } else {
      line.append(`~${count(day.expected_arrivals)} expected (`,
        dayPercent(day.saturation, spot), " of daily capacity)");
    }
    const tomorrow = day.tomorrow || {};
    line.append(" · tomorrow ");
    if (tomorrow.expected_arrivals === null || tomorrow.expected_arrivals === undefined) {
      line.append("unknown");
    } else {
      line.append(`~${count(tomorrow.expected_arrivals)} (`,
        dayPercent(tomorrow.saturation, spot), ")");
    }
    return line;
  }

  function spotCard(spot) {
    const now = spot.forecast && spot.forecast.now;
    return FC.el("article", {class: "spot", "data-spot": spot.spot},
      FC.el("h3", {text: spot.name},
        spot.alert_level ? FC.el("span", {class: "badge badge-" + spot.alert_level,
          text: spot.alert_level}) : null),
      FC.el("div", {class: "spot-facts", text: now ?
        `${Math.round(now.visitors).toLocaleString()} visitors now of ` +
        `${Math.round(spot.capacity_instant).toLocaleString()} · as of ` +
        when(spot.forecast.issued_at) : "waiting for the first forecast"}),
      dayLine(spot), gauge(spot), peakNote(spot), curve(spot),
      FC.el("div", {class: "legend-line"},
        FC.el("span", {class: "key key-observed"}), "visitors ",
        FC.el("span", {class: "key key-forecast"}), "forecast ",
        FC.el("span", {class: "key key-warn"}), "warning ",
        FC.el("span", {class: "key key-critical"}), "capacity"));
  }

  function drawSpots() {
    const box = document.getElementById("spots");
    box.replaceChildren(...order.filter((id) => spots.has(id))
      .map((id) => spotCard(spots.get(id))));
  }

  async function loadSpot(id) {
    spots.set(id, await FC.getJSON("/api/spots/" + encodeURIComponent(id)));
  }

  // ----- alerts -----------------------------------------------------------------------------
  // The figures an alert was sent with beside the spot's figures now.
  function figuresTable(a) {
    const sent = a.figures || {};
    const cur = a.current || {};
    const peak = peakOf(cur);
    const table = FC.el("table", {class: "figures"},
      FC.el("tr", {}, FC.el("th", {}), FC.el("th", {text: "now"}),
        FC.el("th", {text: "peak"}), FC.el("th", {text: "as of"})));
    const peakText = (ratio, at, passed) => ratio === null || ratio === undefined ? "-" :
      `${FC.percent(ratio)} at ${when(at)}${passed ? " (passed)" : ""}`;
    table.append(
      FC.el("tr", {class: "fig-current", "data-now": String(cur.saturation_now ?? ""),
        "data-peak": String(peak.ratio ?? "")},
        FC.el("th", {text: "current"}), FC.el("td", {text: FC.percent(cur.saturation_now)}),
        FC.el("td", {text: peakText(peak.ratio, peak.at, peak.passed)}),
        FC.el("td", {text: when(cur.issued_at)})),
      FC.el("tr", {class: "fig-sent", "data-now": String(sent.saturation_now ?? ""),
        "data-peak": String(sent.saturation_peak ?? "")},
        FC.el("th", {text: "when sent"}), FC.el("td", {text: FC.percent(sent.saturation_now)}),
        FC.el("td", {text: peakText(sent.saturation_peak, sent.peak_at, false)}),
        FC.el("td", {text: when(a.sent_at)})));
    return table;
  }

  function alertCard(a) {
    const active = a.status === "active";
    const card = FC.el("article", {class: `alert alert-${a.level} status-${a.status}`,
      "data-alert": a.identifier, "data-spot": a.spot, "data-status": a.status,
      "data-acknowledged": String(a.acknowledged)},
      FC.el("div", {class: "alert-top"},
        FC.el("span", {class: "badge badge-" + a.level, text: a.level}),
        FC.el("span", {class: "alert-spot", text: a.spot_name}),
        FC.el("span", {class: "alert-state", text: active ?
          `${a.msgType} · sent ${when(a.sent_at)}` : `${a.status} · ${when(a.sent_at)}`})),
      FC.el("p", {class: "headline", text: a.headline}),
      FC.el("p", {class: "instruction", text: a.instruction}),
      figuresTable(a),
      FC.el("p", {class: "facts", text: `onset ${when(a.onset_at)} · expires ` +
        when(a.expires_at)}));
    const history = FC.el("ol", {class: "history"});
    for (const h of a.history) {
      history.append(FC.el("li", {"data-msgtype": h.msgType},
        FC.el("b", {text: h.msgType}), ` ${when(h.sent_at)} · ${h.level} · ${h.headline}`));
    }
    card.append(FC.el("details", {}, FC.el("summary", {text: `History (${a.history.length})`}),
      history));
    const acks = FC.el("ul", {class: "acks"});
    for (const k of a.acks) {
      acks.append(FC.el("li", {text: `acknowledged by ${k.by} at ${FC.when(k.at)}` +
        (k.note ? ` — ${k.note}` : "")}));
    }
    card.append(acks);
    if (active) {
      const button = FC.el("button", {class: "ack", type: "button",
        text: a.acknowledged ? "Acknowledged ✓ (again)" : "Acknowledge"});
      button.addEventListener("click", () => acknowledge(a.latest));
      card.append(button);
    }
    return card;
  }

  // Active alerts first; cancelled (and replaced) ones folded away below them.
  async function loadAlerts() {
    const body = await FC.getJSON("/api/alerts?include=cancelled");
    const box = document.getElementById("alerts");
    const active = body.alerts.filter((a) => a.status === "active");
    const closed = body.alerts.filter((a) => a.status !== "active");
    const children = active.length ? active.map(alertCard) :
      [FC.el("p", {class: "muted", text: "No active alerts."})];
    if (closed.length) {
      const fold = FC.el("details", {id: "cancelled-alerts", class: "cancelled-alerts"},
        FC.el("summary", {text: `Cancelled alerts (${closed.length})`}),
        FC.el("div", {class: "alerts"}, ...closed.map(alertCard)));
      fold.open = cancelledOpen;
      fold.addEventListener("toggle", () => { cancelledOpen = fold.open; });
      children.push(fold);
    }
    box.replaceChildren(...children);
    document.body.dataset.alerts = String(active.length);
  }

  async function acknowledge(identifier) {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) token = window.prompt("Token to acknowledge alerts:");
    if (!token) return;
    const by = document.getElementById("who").value.trim() || "bureau desk";
    let response, body;
    try {
      response = await fetch("/api/alerts/" + encodeURIComponent(identifier) + "/ack", {
        method: "POST",
        headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        body: JSON.stringify({by}),
      });
      body = await response.json().catch(() => ({}));
    } catch (err) {
      showMessage("Acknowledge failed: " + err.message);
      return;
    }
    if (!response.ok) {
      if (response.status === 401) sessionStorage.removeItem(TOKEN_KEY);
      showMessage(`Acknowledge refused (${response.status}): ${body.error || ""}`);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    showMessage(`Acknowledged ${identifier} as ${by}.`, "ok");
    await loadAlerts();
  }

  // ----- live updates -----------------------------------------------------------------------
  function debounced(fn, ms) {
    const timers = new Map();
    return (key) => {
      clearTimeout(timers.get(key));
      timers.set(key, setTimeout(() => { timers.delete(key); fn(key); }, ms));
    };
  }

  const refreshSpot = debounced(async (id) => {
    try { await loadSpot(id); drawSpots(); } catch (err) { showMessage(err.message); }
  }, 250);
  const refreshAlerts = debounced(async () => {
    try { await loadAlerts(); } catch (err) { showMessage(err.message); }
  }, 150);

  async function loadAll() {
    const list = await FC.getJSON("/api/spots");
    order = list.spots.map((s) => s.spot);
    await Promise.all(list.spots.map((s) => loadSpot(s.spot)));
    drawSpots();
    await loadAlerts();
  }

  async function start() {
    try {
      const geometry = await FC.getJSON("/api/city/geometry");
      FC.setZone(geometry.timezone);
      FC.liveEvents({
        spot: (m) => refreshSpot(m.spot),
        alert: (m) => { refreshAlerts("all"); refreshSpot(m.spot); },
        ack: () => refreshAlerts("all"),
      }, setStatus, () => loadAll().catch((err) => showMessage(err.message)));
      await loadAll();
      document.body.dataset.loaded = "true";
    } catch (err) {
      showMessage("Cannot load the bureau page: " + err.message);
    }
  }

  start();
})();
