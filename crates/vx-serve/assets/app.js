// vx serve: the search page (/) and the page of one file (/file/<id>). Plain JavaScript,
// no dependencies. Everything from the index is put in the page as text (textContent,
// attributes), never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

// 83.25 -> "1:23.3"; 3725 -> "1:02:05.0"; null -> "".
function fmtTime(t) {
  if (t === null || t === undefined) return "";
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = (t % 60).toFixed(1).padStart(4, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function baseName(p) {
  const parts = String(p).split("/");
  return parts[parts.length - 1] || String(p);
}

function status(msg) {
  const s = document.getElementById("status");
  if (s) s.textContent = msg || "";
}

async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

// The media element for `media` ({url, type}) starting at `start` seconds: a video or audio
// element whose source carries a media fragment (#t=), so the browser starts there; the time
// is set again once the metadata is known, for sources that ignore the fragment.
function mediaElement(media, start) {
  if (!media || !media.url) return el("p", { class: "muted", text: "The source file is not available to play." });
  if (media.type === "image") return el("img", { class: "still", src: media.url, alt: "" });
  const tag = media.type === "audio" ? "audio" : "video";
  const t = start || 0;
  const m = el(tag, { controls: true, preload: "auto" });
  m.addEventListener("loadedmetadata", () => {
    if (Math.abs(m.currentTime - t) > 0.25) m.currentTime = t;
  }, { once: true });
  m.src = t > 0 ? `${media.url}#t=${t.toFixed(3)}` : media.url;
  return m;
}

function playing() {
  return document.querySelector("#player video, #player audio");
}

function seek(t) {
  const m = playing();
  if (!m || t === null || t === undefined) return;
  m.currentTime = t;
  m.play().catch(() => {});
}

// ---- the search page ----

function renderHit(hit) {
  const time = hit.start !== undefined ? fmtTime(hit.start) : "picture";
  const thumb = hit.thumb
    ? el("img", { class: "thumb", src: hit.thumb, alt: `${hit.kind} in ${baseName(hit.source)}` })
    : el("div", { class: "thumb none", text: hit.kind });
  const page = hit.page + (hit.start !== undefined ? `#t=${hit.start}` : "");
  const li = el("li", { class: "hit", tabindex: 0, "data-start": hit.start, "data-kind": hit.kind },
    thumb,
    el("div", { class: "body" },
      el("div", { class: "meta" },
        el("span", { class: `kind ${hit.kind}`, text: hit.kind }),
        el("a", { class: "source", href: page, text: baseName(hit.source), title: hit.source }),
        el("span", { class: "time", text: time })),
      el("p", { class: "snippet", text: hit.text }),
      el("small", { class: "score", text: `score ${hit.score.toFixed(4)}` +
        (hit.similarity !== undefined ? ` · similarity ${hit.similarity.toFixed(2)}` : "") })));
  const open = (ev) => {
    if (ev.target.closest("a")) return;
    play(hit);
  };
  li.addEventListener("click", open);
  li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(ev); });
  return li;
}

function play(hit) {
  const p = document.getElementById("player");
  p.replaceChildren(
    el("div", { class: "player-head" },
      el("strong", { text: baseName(hit.source) }),
      el("span", { class: "time", text: hit.start !== undefined ? ` at ${fmtTime(hit.start)}` : "" }),
      el("a", { href: hit.page, text: "the file's page" })),
    mediaElement(hit.media, hit.start));
  p.hidden = false;
  const m = playing();
  if (m) m.play().catch(() => {});
  p.scrollIntoView({ block: "nearest" });
}

async function search(q, kind) {
  const hits = document.getElementById("hits");
  document.getElementById("files").hidden = true;
  hits.replaceChildren();
  status("Searching…");
  try {
    const params = new URLSearchParams({ q });
    if (kind) params.set("kind", kind);
    const r = await getJson(`/api/search?${params}`);
    status(r.hits.length ? `${r.hits.length} results in ${r.ms.toFixed(0)} ms` : `Nothing found for “${q}”.`);
    for (const h of r.hits) hits.append(renderHit(h));
  } catch (e) {
    status(`Search failed: ${e.message}`);
  }
}

async function listFiles() {
  const box = document.getElementById("files");
  const list = document.getElementById("file-list");
  try {
    const r = await getJson("/api/files");
    list.replaceChildren(...r.files.map((f) => {
      const counts = Object.entries(f.items).map(([k, n]) => `${n} ${k}`).join(", ");
      return el("li", { class: "file" },
        el("a", { href: f.page },
          f.thumb ? el("img", { class: "thumb", src: f.thumb, alt: "" }) : el("div", { class: "thumb none" }),
          el("span", { class: "name", text: baseName(f.source), title: f.source })),
        el("small", { text: [f.duration ? fmtTime(f.duration) : "", counts].filter(Boolean).join(" · ") }));
    }));
    box.hidden = false;
    status(r.files.length ? "" : "The index is empty.");
  } catch (e) {
    status(`Cannot list files: ${e.message}`);
  }
}

function searchPage() {
  const form = document.getElementById("search");
  const q = document.getElementById("q");
  const kind = document.getElementById("kind");
  const params = new URLSearchParams(location.search);
  q.value = params.get("q") || "";
  kind.value = params.get("kind") || "";
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = q.value.trim();
    if (!text) return;
    const u = new URLSearchParams({ q: text });
    if (kind.value) u.set("kind", kind.value);
    history.replaceState(null, "", `/?${u}`);
    search(text, kind.value);
  });
  if (q.value.trim()) search(q.value.trim(), kind.value);
  else listFiles();
}

// ---- the page of one file ----

function timeButton(t) {
  return el("button", { class: "t", type: "button", "data-t": t, text: fmtTime(t) || "—",
    onclick: () => seek(t) });
}

function lines(id, items) {
  const ol = document.getElementById(id);
  ol.replaceChildren(...items.map((it) =>
    el("li", {}, timeButton(it.start), el("span", { text: it.text }))));
  document.getElementById(`${id}-section`).hidden = items.length === 0;
}

function nearest(keyframes, t) {
  let best = null;
  for (const k of keyframes) {
    if (!k.url) continue;
    if (!best || Math.abs((k.time || 0) - t) < Math.abs((best.time || 0) - t)) best = k;
  }
  return best;
}

function strip(d) {
  const box = document.getElementById("scenes");
  const shots = d.scenes.length
    ? d.scenes.map((s) => ({ t: s.start, label: `scene ${s.index + 1} · ${fmtTime(s.start)}`, k: nearest(d.keyframes, s.start) }))
    : d.keyframes.map((k) => ({ t: k.time, label: fmtTime(k.time), k }));
  document.getElementById("strip-title").textContent = d.scenes.length ? "Scenes" : "Keyframes";
  box.replaceChildren(...shots.filter((s) => s.k).map((s) =>
    el("button", { class: "shot", type: "button", "data-t": s.t, onclick: () => seek(s.t) },
      el("img", { src: s.k.url, alt: s.label }),
      el("span", { text: s.label }))));
  document.getElementById("scenes-section").hidden = shots.length === 0;
}

// Pictures with what was found on them: detection boxes (x, y, w, h) and text lines (four
// corners), drawn in the picture's own pixels (d.frame) over the keyframe image.
function frames(d) {
  const groups = new Map();
  for (const [kind, items] of [["object", d.objects], ["face", d.faces], ["text", d.text]]) {
    for (const it of items) {
      if (!it.keyframe_url || !it.box) continue;
      if (!groups.has(it.keyframe_url)) groups.set(it.keyframe_url, { t: it.start, items: [] });
      groups.get(it.keyframe_url).items.push({ kind, ...it });
    }
  }
  const box = document.getElementById("frames");
  const w = d.frame ? d.frame.width : 0;
  const h = d.frame ? d.frame.height : 0;
  const figs = [];
  for (const [url, g] of groups) {
    const over = svg("svg", { class: "boxes", viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none" });
    for (const it of g.items) {
      let shape;
      if (Array.isArray(it.box)) {
        shape = svg("polygon", { points: it.box.map((p) => p.join(",")).join(" ") });
      } else {
        shape = svg("rect", { x: it.box.x, y: it.box.y, width: it.box.w, height: it.box.h });
      }
      shape.setAttribute("class", it.kind);
      const title = svg("title", {});
      title.textContent = `${it.text}${it.score !== undefined ? ` ${it.score.toFixed(2)}` : ""}`;
      shape.append(title);
      over.append(shape);
    }
    const labels = g.items.map((it) => it.text).join(", ");
    figs.push(el("figure", { class: "frame", "data-t": g.t, onclick: () => seek(g.t) },
      el("div", { class: "canvas" }, el("img", { src: url, alt: labels }), w && h ? over : null),
      el("figcaption", {}, el("span", { class: "time", text: fmtTime(g.t) }), ` ${labels}`)));
  }
  box.replaceChildren(...figs);
  document.getElementById("frames-section").hidden = figs.length === 0;
}

async function filePage() {
  let id = location.pathname.slice("/file/".length);
  try {
    id = decodeURIComponent(id);
    const d = await getJson(`/api/file/${encodeURIComponent(id)}`);
    document.title = `${baseName(d.source)} · vx`;
    document.getElementById("title").textContent = baseName(d.source);
    const probe = d.probe || {};
    const meta = [d.source];
    const still = d.media && d.media.type === "image";
    if (d.duration && !still) meta.push(fmtTime(d.duration));
    if (d.frame) meta.push(`${d.frame.width}×${d.frame.height}`);
    if (probe.container_long) meta.push(probe.container_long);
    const m = document.getElementById("meta");
    m.replaceChildren(meta.join(" · "), " · ");
    if (d.result_url) m.append(el("a", { href: d.result_url, text: "result.json" }));
    const start = parseFloat((location.hash.match(/t=([0-9.]+)/) || [])[1] || "0");
    document.getElementById("player").replaceChildren(mediaElement(d.media, start));
    if (!still) strip(d);
    lines("speech", d.speech);
    lines("text", d.text);
    frames(d);
  } catch (e) {
    status(`Cannot show ${id}: ${e.message}`);
  }
}

if (document.body.dataset.page === "file") filePage();
else searchPage();
