// coop dashboard. Plain JavaScript, no build step. Every value from the node
// goes into the page as text (textContent), never as HTML.
"use strict";

const REFRESH_MS = 10000;
const CSRF = { "X-Coop-CSRF": "1" };

const $ = (id) => document.getElementById(id);

// el builds an element: el("td", {class: "x"}, "text", child, …).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "title") e.title = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function bytes(n) {
  if (n === undefined || n === null) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function short(s) {
  return s && s.length > 16 ? `${s.slice(0, 8)}…${s.slice(-6)}` : (s || "");
}

function ago(iso) {
  if (!iso) return "not since this node started";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 5) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function plural(n, word) { return `${count(n)} ${word}${n === 1 ? "" : "s"}`; }

function count(n) { return Number(n).toLocaleString("en"); }

function permille(p) { return `${(p / 10).toFixed(1)} %`; }

// ApiError is a non-2xx answer: its status and the node's message.
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts) {
  const resp = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, opts || {}));
  if (!resp.ok) {
    let msg = resp.statusText;
    try { msg = (await resp.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new ApiError(resp.status, msg);
  }
  return resp.json();
}

// optional reads a route a node may not have (404: null).
async function optional(path) {
  try { return await api(path); } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

function show(id, on) { $(id).hidden = !on; }

function dots(window) {
  const box = el("span", { class: "dots" });
  if (!window || window.length === 0) return "not measured yet";
  for (const ok of window) box.append(el("span", { class: ok ? "dot ok" : "dot bad", title: ok ? "proved" : "missed" }));
  const up = window.filter(Boolean).length;
  box.append(el("span", { class: "muted" }, `\u00a0${up} of ${window.length} proved`));
  return box;
}

function setBar(id, used, limit) {
  const pct = limit > 0 ? Math.min(100, (100 * used) / limit) : (used > 0 ? 100 : 0);
  const bar = $(id);
  bar.style.width = `${pct}%`;
  bar.classList.toggle("warn", pct >= 90);
}

// ---- rendering ----

function renderStatus(st, acct) {
  $("peer-id").textContent = st.peer_id;
  $("account").textContent = st.account;
  const status = st.node_status || "not registered";
  $("node-status").replaceChildren(el("span", { class: `pill ${status === "active" ? "ok" : "bad"}` }, status));
  // The addresses without their /p2p/<peer id> tail (the peer id is above).
  $("addrs").replaceChildren(...(st.addrs || []).map((a) => el("li", {}, el("code", { class: "wrap" }, a.replace(/\/p2p\/[^/]+$/, "")))));

  const health = $("health");
  health.hidden = false;
  if (st.ledger_stalled) {
    health.className = "pill bad";
    health.textContent = "Ledger stalled";
    health.title = `No new block since ${st.last_block_time || "?"}: uploads and other changes wait until it makes blocks again.`;
  } else {
    health.className = "pill ok";
    health.textContent = "Network running";
    health.title = "The ledger makes blocks.";
  }
  const ledger = [`block ${st.chain_height}`, `epoch ${st.epoch}`];
  if (st.last_block_time) ledger.push(`last block ${ago(st.last_block_time)}`);
  $("ledger").replaceChildren(ledger.join(" · "));
  if (st.ledger_stalled) $("ledger").append(" ", el("span", { class: "pill bad" }, "stalled"));

  $("held").textContent = `${plural(st.pieces_held, "piece")}, ${bytes(st.bytes_held)} on disk` +
    (acct && acct.quota.has_node ? `; ${bytes(acct.quota.held_for_others)} of other people's files` : "");
  $("proofs").textContent = `${st.proofs_passed} passed, ${st.proofs_failed} failed`;
  $("score").textContent = `${permille(st.audit_score)}${st.pieces_lost ? ` · ${st.pieces_lost} pieces lost` : ""}`;
  $("uptime").replaceChildren(dots(st.uptime));
  const sc = st.last_scrub;
  $("scrub").textContent = sc
    ? `${ago(sc.started)}: ${sc.ok} of ${sc.pieces} pieces good` + (sc.corrupt + sc.missing ? `, ${sc.corrupt} damaged, ${sc.missing} missing (reported)` : "")
    : "not yet";

  if (acct) {
    $("credits").textContent = `${count(acct.credits)} credits` + (acct.credits_escrowed ? ` (${count(acct.credits_escrowed)} held for running jobs)` : "");
    renderQuota(acct.quota);
  } else {
    $("credits").textContent = "?";
    renderQuota({ used: st.quota_used, limit: st.quota_limit, earned: st.quota_earned });
  }
}

function renderQuota(q) {
  $("quota-used").textContent = bytes(q.used);
  $("quota-limit").textContent = bytes(q.limit);
  setBar("quota-bar", q.used, q.limit);
  const why = [];
  if (q.allowance !== undefined) why.push(`Every account may store ${bytes(q.allowance)}.`);
  if (q.has_node) {
    if (q.held_for_others > 0) {
      why.push(`Your node keeps ${bytes(q.held_for_others)} of other people's files, ${bytes(q.proved_for_others)} of it proved; that earns ${q.earn_percent} % of it: ${bytes(q.earned)}.`);
    } else {
      why.push(`Your node keeps nothing for others yet; it earns more room as it keeps and proves their pieces (${q.earn_percent} % of what it keeps).`);
    }
    if (q.earning_usable) {
      why.push(q.uptime_epochs > 0
        ? `What it earns counts: the node is ${q.node_status} and proved ${q.uptime_proved} of its last ${q.uptime_epochs} epochs (at least ${q.uptime_min_percent} % needed).`
        : `What it earns counts: the node is ${q.node_status} and its uptime is not measured yet.`);
    } else {
      why.push(q.node_status !== "active"
        ? `What it earns does not count now: the node is ${q.node_status || "not registered"}.`
        : `What it earns does not count now: it proved only ${q.uptime_proved} of its last ${q.uptime_epochs} epochs (at least ${q.uptime_min_percent} % needed). Keep it online.`);
    }
    why.push(`You offer ${bytes(q.pledge)} of disk to others (${bytes(q.pledge_used)} taken). The offer alone earns nothing.`);
  } else if (q.allowance !== undefined) {
    why.push("Register this node to earn more room by keeping others' files.");
  }
  if (q.lent) why.push(`${bytes(q.lent)} of it is held back until nodes that kept your removed files repay what they spent.`);
  if (q.owed) why.push(`You owe ${bytes(q.owed)} for room a removal took back.`);
  $("quota-why").replaceChildren(...why.map((w) => el("li", {}, w)));
}

function redundancy(f) {
  if (f.k === 1) {
    const c = f.m + 1;
    return c === 1 ? "1 copy (this computer only)" : `${c} copies`;
  }
  return `any ${f.k} of ${f.k + f.m} pieces`;
}

function renderHealth(f, h) {
  if (!h) return el("span", { class: "muted" }, "?");
  if (!h.segments || h.segments.length === 0) return el("span", { class: "muted" }, "empty file");
  const box = el("div", { class: "segments" });
  for (const s of h.segments) {
    const cls = s.reachable >= s.pieces ? "ok" : (s.reachable >= h.k ? "warn" : "bad");
    const tip = [`Part ${s.segment + 1}: ${s.live} of ${s.pieces} pieces kept, ${s.reachable} reachable now; ${h.k} needed to read it.`];
    for (const d of s.down || []) tip.push(`piece ${d.index}: ${d.why} (${short(d.holder)})`);
    box.append(el("span", { class: `seg ${cls}`, title: tip.join("\n") }, `${s.reachable}/${s.pieces}`));
  }
  return box;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const ta = el("textarea", { class: "visually-hidden" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  const old = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = old; }, 1500);
}

function renderFiles(files, health) {
  const byID = new Map((health || []).map((h) => [h.file_id, h]));
  const label = (f) => f.name || f.file_id;
  files.sort((a, b) => label(a).localeCompare(label(b)));
  const rows = files.map((f) => {
    const name = f.name || short(f.file_id);
    const dl = el("a", { class: "button", href: `/v1/files/${encodeURIComponent(f.file_id)}/content?name=${encodeURIComponent(f.name || f.file_id)}`, download: f.name || f.file_id }, "Download");
    const actions = el("td", { class: "actions" }, dl);
    if (f.capability) {
      actions.append(el("button", { type: "button", class: "button share", title: "Anyone with this link can read the file: give it only to people you trust.", onclick: (ev) => copyText(f.capability, ev.currentTarget) }, "Copy share link"));
    }
    actions.append(el("button", { type: "button", class: "button danger", onclick: () => removeFile(f, name) }, "Remove"));
    let safety = redundancy(f);
    const degraded = f.asked_k && (f.asked_k !== f.k || f.asked_m !== f.m);
    return el("tr", { class: "file", "data-file-id": f.file_id },
      el("td", { class: "file-name", title: f.file_id }, name),
      el("td", { class: "num" }, bytes(f.size)),
      el("td", {}, safety, degraded ? el("div", { class: "muted small" }, `asked for any ${f.asked_k} of ${f.asked_k + f.asked_m} pieces; the network had too few nodes` +
        (f.raise_to_m ? `: adding pieces as nodes join (up to ${f.k + f.raise_to_m})` : "")) : null),
      el("td", {}, renderHealth(f, byID.get(f.file_id))),
      actions);
  });
  $("files").replaceChildren(...rows);
  show("files-table", rows.length > 0);
  show("files-note", rows.length > 0);
  show("files-empty", rows.length === 0);
}

function renderPeers(peers) {
  const rows = peers.map((p) => {
    const online = p.answers
      ? el("span", { class: "pill ok" }, `yes${p.ping_ms ? `, ${Math.round(p.ping_ms)} ms` : ""}`)
      : el("span", { class: "pill bad", title: p.ping_error || "" }, "no");
    return el("tr", { class: "peer" },
      el("td", { title: p.peer_id }, el("code", {}, short(p.peer_id)), el("div", { class: "muted small" }, p.status || "")),
      el("td", {}, online),
      el("td", {}, p.connected ? "now" : ago(p.last_seen)),
      el("td", {}, `${bytes(p.pledged_bytes || 0)} (${bytes(p.used_bytes || 0)} used)`),
      el("td", {}, permille(p.audit_score)),
      el("td", {}, dots(p.uptime)));
  });
  $("peers").replaceChildren(...rows);
  show("peers-table", rows.length > 0);
  show("peers-empty", rows.length === 0);
}

function renderJobs(jobs) {
  show("jobs-card", jobs !== null);
  if (jobs === null) return;
  const rows = jobs.map((j) => el("tr", { class: "job" },
    el("td", { title: j.id }, el("code", {}, short(j.id))),
    el("td", {}, j.phase),
    el("td", { class: "num" }, `${j.quorum} of ${j.replicas}`),
    el("td", { class: "num" }, `${count(j.paid)} credits`),
    el("td", { class: "num" }, j.submitted_height)));
  $("jobs").replaceChildren(...rows);
  show("jobs-table", rows.length > 0);
  show("jobs-empty", rows.length === 0);
}

// ---- loading ----

let loading = false;

async function refresh() {
  if (loading) return;
  loading = true;
  try {
    const st = await api("/v1/status");
    const [files, health, acct, peers, jobs] = await Promise.all([
      api("/v1/files"), optional("/v1/health"), optional("/v1/account"), api("/v1/peers"), optional("/v1/jobs"),
    ]);
    show("login", false);
    show("failed", false);
    show("app", true);
    show("logout", true);
    show("refresh", true);
    renderStatus(st, acct);
    renderFiles(files || [], health);
    renderPeers(peers || []);
    renderJobs(jobs);
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      show("app", false);
      show("failed", false);
      show("logout", false);
      show("refresh", false);
      show("login", true);
      $("health").hidden = true;
      document.body.dataset.loaded = "login";
    } else {
      show("failed", true);
      $("failed-detail").textContent = e.message;
    }
  } finally {
    loading = false;
  }
}

// ---- actions ----

function uploadOne(file) {
  return new Promise((resolve) => {
    show("upload", true);
    $("upload-name").textContent = file.name;
    $("upload-status").textContent = "starting…";
    setBar("upload-bar", 0, 1);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/put?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-Coop-CSRF", "1");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (ev) => {
      if (!ev.lengthComputable) return;
      setBar("upload-bar", ev.loaded, ev.total);
      $("upload-status").textContent = ev.loaded < ev.total
        ? `${bytes(ev.loaded)} of ${bytes(ev.total)}`
        : "sending pieces to the network…";
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ ok: true, name: file.name, degraded: body.degraded });
      } else {
        resolve({ ok: false, name: file.name, error: body.error || `HTTP ${xhr.status}` });
      }
    });
    xhr.addEventListener("error", () => resolve({ ok: false, name: file.name, error: "the connection to the node failed" }));
    xhr.send(file);
  });
}

async function upload(files) {
  const msgs = [];
  let failed = false;
  for (const f of files) {
    const r = await uploadOne(f);
    if (r.ok) msgs.push(`Stored “${r.name}”.${r.degraded ? ` Note: ${r.degraded}.` : ""}`);
    else { failed = true; msgs.push(`“${r.name}” was not stored: ${r.error}`); }
    await refresh();
  }
  show("upload", false);
  const m = $("upload-message");
  m.textContent = msgs.join(" ");
  m.className = failed ? "message bad" : "message ok";
  m.hidden = false;
}

async function removeFile(f, name) {
  if (!window.confirm(`Remove ${name} from the network? Nobody will be able to read it afterwards, not even with its share link.`)) return;
  try {
    await api(`/v1/files/${encodeURIComponent(f.file_id)}`, { method: "DELETE", headers: CSRF });
  } catch (e) {
    const m = $("upload-message");
    m.textContent = `${name} was not removed: ${e.message}`;
    m.className = "message bad";
    m.hidden = false;
  }
  await refresh();
}

async function logout() {
  try { await api("/logout", { method: "POST", headers: CSRF }); } catch (_) { /* gone anyway */ }
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("upload-input").addEventListener("change", (ev) => {
    const files = Array.from(ev.target.files || []);
    ev.target.value = "";
    if (files.length) upload(files);
  });
  $("logout").addEventListener("click", logout);
  $("refresh").addEventListener("click", refresh);
  refresh();
  setInterval(refresh, REFRESH_MS);
});
