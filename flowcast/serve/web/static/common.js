// Shared by the guidance-screen and bureau pages: level colours, formatting, SVG and the live
// event stream. Plain browser JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const FC = (() => {
  // Level 1..5: smooth green to severe dark red (ColorBrewer RdYlGn ends, which stay apart
  // for the common colour-vision deficiencies by lightness); the number and word are always
  // shown beside the colour.
  const LEVEL_COLOURS = ["#6b7280", "#1a9850", "#91cf60", "#fee08b", "#f46d43", "#a50026"];
  const LEVEL_WORDS = ["unknown", "smooth", "basically smooth", "light congestion",
    "moderate congestion", "severe congestion"];
  const SVG_NS = "http://www.w3.org/2000/svg";

  function levelColour(level) {
    return LEVEL_COLOURS[level >= 1 && level <= 5 ? level : 0];
  }

  function levelWord(level) {
    return LEVEL_WORDS[level >= 1 && level <= 5 ? level : 0];
  }

  // Text colour readable on a level's colour.
  function levelInk(level) {
    return level === 2 || level === 3 ? "#111" : "#fff";
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else if (k === "style") node.setAttribute("style", v);
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  let zone = undefined;
  function setZone(tz) { zone = tz; }

  function clock(ms) {
    if (ms === null || ms === undefined) return "--:--";
    return new Intl.DateTimeFormat("en-GB", {hour: "2-digit", minute: "2-digit",
      timeZone: zone}).format(new Date(ms));
  }

  function localParts(ms) {
    const parts = {};
    const format = new Intl.DateTimeFormat("en-GB", {weekday: "short", day: "numeric",
      month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      timeZone: zone});
    for (const part of format.formatToParts(new Date(ms))) parts[part.type] = part.value;
    return parts;
  }

  // A time as people write it, in the city's time zone: "11:15" on the local day of
  // `referenceMs` (the page's "today": its newest data, else the clock), "Fri 2 Oct 11:15"
  // on any other day.
  function when(ms, referenceMs) {
    if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return "-";
    const p = localParts(Number(ms));
    const today = localParts(referenceMs ?? Date.now());
    const time = `${p.hour}:${p.minute}`;
    if (p.year === today.year && p.month === today.month && p.day === today.day) return time;
    return `${p.weekday} ${p.day} ${p.month} ${time}`;
  }

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return "--";
    return String(Math.max(1, Math.round(seconds / 60)));
  }

  function percent(ratio) {
    if (ratio === null || ratio === undefined) return "--";
    return Math.round(ratio * 100) + "%";
  }

  async function getJSON(url) {
    const response = await fetch(url, {headers: {"Accept": "application/json"}});
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((body && body.error) || (response.status + " " + response.statusText));
    }
    return body;
  }

  // Open /api/events and call handlers[kind](payload) for each event; status(text, ok) tells
  // the page whether the stream is up. EventSource reconnects by itself; reconnected() then
  // lets the page reload what it missed while the stream was down.
  // With ?once in the page's address the stream sends the current state and ends (for
  // screenshots and headless browsers whose virtual time must run out); the page stays as drawn.
  function liveEvents(handlers, status, reconnected) {
    const once = new URLSearchParams(window.location.search).has("once");
    const source = new EventSource(once ? "/api/events?once" : "/api/events");
    if (once) {
      source.addEventListener("end", () => {
        source.close();
        status("snapshot", true);
        document.body.dataset.snapshot = "done";
      });
    }
    let wasDown = false;
    source.onopen = () => {
      status("live", true);
      if (wasDown && reconnected) reconnected();
      wasDown = false;
    };
    source.onerror = () => { wasDown = true; status("reconnecting…", false); };
    for (const kind of Object.keys(handlers)) {
      source.addEventListener(kind, (event) => {
        let payload;
        try { payload = JSON.parse(event.data); } catch (err) { return; }
        handlers[kind](payload);
        document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
      });
    }
    return source;
  }

  // Run fn at most once per animation frame however often it is asked for.
  function batched(fn) {
    let queued = false;
    return () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; fn(); });
    };
  }

  return {levelColour, levelWord, levelInk, el, svg, setZone, clock, when, minutes,
    percent, getJSON, liveEvents, batched};
})();
