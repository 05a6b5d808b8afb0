// The UI's only script: loads each page's server-rendered fragment with the token from local
// storage, follows the event stream to refresh the live parts, runs the actions, follows logs.
"use strict";

const TOKEN_KEY = "nomad.token";
const $ = (sel, root) => (root || document).querySelector(sel);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let loadSeq = 0;
let logAbort = null;
let streamAbort = null;
let refreshTimer = null;
let offlineNow = false;

function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const t = token();
  if (t) h["X-Nomad-Token"] = t;
  return h;
}

function offline(on) {
  const was = offlineNow;
  offlineNow = on;
  $("#banner").hidden = !on;
  if (was && !on) scheduleRefresh(0);
}

function toast(text, bad) {
  const t = $("#toast");
  t.textContent = text;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(t._timer);
  t._timer = setTimeout(() => (t.hidden = true), bad ? 8000 : 3000);
}

function fragmentUrl() {
  return "/ui/f/" + (location.pathname.replace(/^\/ui\/?/, "") || "jobs") + location.search;
}

async function load(full) {
  const seq = ++loadSeq;
  const path = location.pathname + location.search;
  let html;
  try {
    const resp = await fetch(fragmentUrl(), { headers: headers(), cache: "no-store" });
    html = await resp.text();
  } catch (e) {
    offline(true);
    return;
  }
  offline(false);
  if (seq !== loadSeq) return;
  const view = $("#view");
  if (full || view.dataset.path !== path) {
    if (logAbort) logAbort.abort();
    view.innerHTML = html;
    view.dataset.path = path;
    hydrate();
  } else {
    const t = document.createElement("template");
    t.innerHTML = html;
    t.content.querySelectorAll("[data-live][id]").forEach((fresh) => {
      const old = document.getElementById(fresh.id);
      // Never pull a field out from under the user's typing.
      const typing = document.activeElement && document.activeElement.matches("input, textarea, select");
      if (old && !(typing && old.contains(document.activeElement))) old.replaceWith(fresh);
    });
  }
  const h1 = $("h1", view);
  document.title = (h1 ? h1.textContent.replace(/\s+/g, " ").trim() + " · " : "") + "Nomad";
}

function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => load(false), delay === undefined ? 250 : delay);
}

function navigate(href) {
  history.pushState(null, "", href);
  load(true);
  window.scrollTo(0, 0);
}

// The event stream: any event may change what the page shows. Heartbeats are `{}`.
async function follow() {
  for (;;) {
    const ctl = new AbortController();
    streamAbort = ctl;
    let connected = false;
    try {
      const resp = await fetch("/v1/event/stream?namespace=*", { headers: headers(), signal: ctl.signal });
      connected = true;
      offline(false);
      if (resp.ok && resp.body) {
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (line && line !== "{}") scheduleRefresh();
          }
        }
      } else {
        // A token that may not read the stream: look again every second instead.
        scheduleRefresh(0);
      }
    } catch (e) {
      if (ctl.signal.aborted) continue;
      if (!connected) offline(true);
    }
    await sleep(1000);
    // The stream ended (agent restarted, leader changed): check the agent is there.
    try {
      await fetch("/v1/agent/health", { cache: "no-store" });
      offline(false);
    } catch (e) {
      offline(true);
    }
  }
}

async function act(method, url, body) {
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers: headers({ "Content-Type": "application/json" }),
      body: body || undefined,
    });
  } catch (e) {
    offline(true);
    return false;
  }
  if (!resp.ok) {
    const text = (await resp.text()).trim();
    toast(resp.status === 403 ? "Not allowed: " + (text || "permission denied") : text || "failed: " + resp.status, true);
    return false;
  }
  toast("Done.");
  scheduleRefresh(0);
  return true;
}

async function startJob(id, ns) {
  const q = "?namespace=" + encodeURIComponent(ns);
  const resp = await fetch("/v1/job/" + encodeURIComponent(id) + q, { headers: headers() });
  if (!resp.ok) return toast(await resp.text(), true);
  const job = await resp.json();
  job.Stop = false;
  await act("POST", "/v1/jobs" + q, JSON.stringify({ Job: job }));
}

function appendLog(pre, text) {
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent += text;
  // Keep the page small: the last 256 KiB of output.
  if (pre.textContent.length > 262144) pre.textContent = pre.textContent.slice(-196608);
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function startLogs() {
  if (logAbort) logAbort.abort();
  const pre = $("#log");
  if (!pre) return;
  const ctl = new AbortController();
  logAbort = ctl;
  const task = $("#log-task") ? $("#log-task").value : "";
  const type = $("#log-type").value;
  pre.textContent = "";
  const url = "/v1/client/fs/logs/" + pre.dataset.alloc + "?task=" + encodeURIComponent(task) +
    "&type=" + type + "&follow=true&plain=true&origin=end&offset=65536";
  try {
    const resp = await fetch(url, { headers: headers(), signal: ctl.signal });
    if (!resp.ok) {
      pre.textContent = resp.status === 403 ? "Not allowed: your token may not read these logs." : await resp.text();
      return;
    }
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      appendLog(pre, dec.decode(value, { stream: true }));
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  // The stream ended (the task's agent went away): follow again shortly if still shown.
  await sleep(2000);
  if (logAbort === ctl && document.body.contains(pre)) startLogs();
}

function hydrate() {
  if ($("#log")) startLogs();
  const field = $("#token");
  if (field && document.activeElement !== field) field.value = token();
}

async function plan(form) {
  const out = $("#plan-result");
  const text = $("#jobspec").value;
  const resp = await fetch("/ui/f/plan", { method: "POST", headers: headers({ "Content-Type": "text/plain" }), body: text });
  out.innerHTML = await resp.text();
  $("#jobspec").setAttribute("aria-invalid", resp.ok ? "false" : "true");
}

async function run(button) {
  const out = $("#plan-result");
  const body = JSON.stringify({ hcl: $("#jobspec").value, index: Number(button.dataset.index) });
  const resp = await fetch("/ui/f/register", { method: "POST", headers: headers({ "Content-Type": "application/json" }), body });
  const html = await resp.text();
  const t = document.createElement("template");
  t.innerHTML = html;
  const done = t.content.querySelector("[data-registered]");
  if (resp.ok && done) {
    navigate(done.dataset.registered);
  } else {
    out.innerHTML = html;
  }
}

document.addEventListener("click", (ev) => {
  const link = ev.target.closest("a[href^='/ui/']");
  if (link && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && ev.button === 0) {
    ev.preventDefault();
    navigate(link.getAttribute("href"));
    return;
  }
  const b = ev.target.closest("button[data-method]");
  if (b) {
    ev.preventDefault();
    if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
    act(b.dataset.method, b.dataset.url, b.dataset.body);
    return;
  }
  const s = ev.target.closest("button[data-start-job]");
  if (s) {
    startJob(s.dataset.startJob, s.dataset.ns);
    return;
  }
  const r = ev.target.closest("button#run");
  if (r) {
    ev.preventDefault();
    run(r);
  }
});

document.addEventListener("submit", (ev) => {
  const f = ev.target;
  ev.preventDefault();
  if (f.id === "token-form") {
    localStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    toast("Token saved.");
    if (streamAbort) streamAbort.abort();
    load(true);
  } else if (f.id === "run-form") {
    plan(f);
  } else if (f.dataset.scale) {
    const count = Number(f.elements.count.value);
    act("POST", f.dataset.scale, JSON.stringify({ Count: count, Target: { Group: f.dataset.group } }));
  }
});

document.addEventListener("change", (ev) => {
  if (ev.target.id === "log-task" || ev.target.id === "log-type") startLogs();
  if (ev.target.id === "jobfile" && ev.target.files.length) {
    ev.target.files[0].text().then((t) => ($("#jobspec").value = t));
  }
});

window.addEventListener("popstate", () => load(true));
load(true);
follow();
