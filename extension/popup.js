// Popup: reads the live state the service worker keeps in chrome.storage.session and
// draws it; buttons send {type, target: "background"} messages. Holds no state itself.
import { describeState, STATES } from "./lib/states.js";
import { mergeSettings, DEFAULT_DAEMON_ADDRESS } from "./lib/settings.js";
import { checkDaemon } from "./lib/daemon.js";

const $ = (id) => document.getElementById(id);
/** Longest timeline span shown, in ms; a young stream gets a shorter span (whole minutes). */
const TIMELINE_MAX_SPAN_MS = 5 * 60_000;

let settings = mergeSettings(null);
let live = null;
/** Stored timeline points of the shown stream (the service worker flushes them now and then). */
let storedTimeline = [];
let probe = { status: "unknown" };

function send(type, data) {
  return chrome.runtime.sendMessage({ type, target: "background", data });
}

function showError(text) {
  $("error").textContent = text || "";
  $("error").classList.toggle("hidden", !text);
}

async function activeTab() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab || null;
}

function currentStream() {
  if (!live || !live.streams) return null;
  return live.streams[live.current] || Object.values(live.streams)[0] || null;
}

const SVG_NS = "http://www.w3.org/2000/svg";

function drawTimeline(entry) {
  const svg = $("timeline");
  const W = 300;
  const H = 44;
  const now = Date.now();
  // Stored points, then the ones since the last flush (`recent`, possibly overlapping).
  const lastT = storedTimeline.length ? storedTimeline[storedTimeline.length - 1].t : -Infinity;
  const all = entry ? [...storedTimeline, ...(entry.recent || []).filter((p) => p.t > lastT)] : [];
  const age = all.length ? now - all[0].t : 0;
  const span = Math.min(TIMELINE_MAX_SPAN_MS, Math.max(1, Math.ceil(age / 60_000)) * 60_000);
  $("tl-span").textContent = `last ${span / 60_000} min`;
  const pts = all.filter((p) => now - p.t <= span);
  const x = (t) => W - ((now - t) / span) * W;
  const parts = [];
  // Built as elements, never as markup (no innerHTML: nothing stored is ever parsed).
  const el = (name, attrs) => {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  };
  // State bands along the bottom, one rect per event until the next one.
  for (let i = 0; i < pts.length; i++) {
    const x0 = x(pts[i].t);
    const x1 = i + 1 < pts.length ? x(pts[i + 1].t) : W;
    const color = describeState(pts[i].s).color;
    parts.push(el("rect", { x: x0.toFixed(1), y: H - 6, width: Math.max(0.5, x1 - x0).toFixed(1), height: 6, fill: color }));
  }
  // Calm probability as a line above it.
  const line = pts
    .filter((p) => typeof p.p === "number")
    .map((p) => `${x(p.t).toFixed(1)},${(2 + (1 - p.p) * (H - 12)).toFixed(1)}`)
    .join(" ");
  const thin = { fill: "none", "vector-effect": "non-scaling-stroke" };
  if (line) parts.push(el("polyline", { points: line, stroke: "#2f9e8f", "stroke-width": 1.6, ...thin }));
  const mid = 2 + 0.5 * (H - 12);
  parts.push(el("line", { x1: 0, x2: W, y1: mid, y2: mid, stroke: "#d8d3c8", "stroke-dasharray": "3 3", ...thin }));
  svg.replaceChildren(...parts);
}

function render() {
  const entry = currentStream();
  const st = $("state");
  const last = entry && entry.last;
  if (last) {
    const d = describeState(last.state);
    st.textContent = d.label;
    st.dataset.state = last.state;
    $("calm-prob").textContent = typeof last.calm_probability === "number" ? `${Math.round(last.calm_probability * 100)} %` : "–";
    $("bpm").textContent = last.bpm ? Math.round(last.bpm) : "–";
    $("reason").textContent = last.reason || "";
    $("reason").classList.toggle("hidden", !last.reason);
  } else {
    st.textContent = entry ? STATES.warming_up.label : "Not listening";
    st.dataset.state = entry ? "warming_up" : "none";
    $("calm-prob").textContent = "–";
    $("bpm").textContent = "–";
    $("reason").classList.add("hidden");
  }
  drawTimeline(entry);
  if (entry) {
    const how = entry.kind === "tab" ? "tab capture" : "page player";
    const title = entry.title || entry.url || `tab ${entry.tabId}`;
    $("source").textContent = `Analysing: ${title} (${how})`;
    $("source").title = entry.url || "";
  } else {
    $("source").textContent = "No tab is being analysed.";
  }
  // The daemon refused or failed the stream (bad hello, analysis error): say what it said.
  if (entry && entry.error && !last) showError(`Daemon: ${entry.error.message || entry.error.code}`);
  $("stop").classList.toggle("hidden", !entry);
  $("start").classList.toggle("hidden", !!entry);

  // "No daemon" when the engine says so, or (no engine running) our own probe did.
  const engineSays = entry && live && live.daemon ? live.daemon.status : null;
  const down = engineSays === "unreachable" || (!entry && probe.status === "unreachable");
  const refused = engineSays === "refused" || (!entry && probe.status === "refused");
  $("no-daemon").classList.toggle("hidden", !down);
  $("refused").classList.toggle("hidden", !refused);
  $("held-back").classList.toggle("hidden", !!entry || probe.status !== "timeout");
  $("rf-address").textContent = settings.daemonAddress;
  $("hb-address").textContent = settings.daemonAddress;
  $("nd-address").textContent = settings.daemonAddress;
  const port = settings.daemonAddress.split(":").pop();
  $("nd-command").textContent = settings.daemonAddress === DEFAULT_DAEMON_ADDRESS
    ? "streamchill daemon" : `streamchill daemon --port ${port}`;

  renderSilent();
}

async function renderSilent() {
  const tab = await activeTab().catch(() => null);
  const silent = tab && live && live.silentTabs && live.silentTabs[tab.id];
  $("silent").classList.toggle("hidden", !silent);
  $("use-tabcapture").classList.toggle("hidden", !CAN_CAPTURE_TABS);
  if (silent) {
    $("silent-text").textContent = CAN_CAPTURE_TABS
      ? `${silent.reason} Tab capture records what the tab plays instead.`
      : silent.reason;
  }
}

/** Whether a daemon answers and takes this extension (`checkDaemon`): "connected",
 * "refused" (the daemon closed the socket with a token code), "closed" (otherwise: a
 * restart), "unreachable", or "timeout": `/healthz` answered but no welcome came in 2.5 s,
 * which is the browser holding the socket back after failed ones (Firefox delays sockets to
 * a port after failures, see lib/daemon.js), not a missing daemon. */
async function probeDaemon() {
  return (await checkDaemon(settings.daemonAddress, settings.token, 2500)).status;
}

/** Chrome can capture a whole tab; Firefox has no tabCapture, only the page-player tap. */
const CAN_CAPTURE_TABS = !!(chrome.tabCapture && chrome.tabCapture.getMediaStreamId);

async function startTabCapture(tab) {
  if (!CAN_CAPTURE_TABS) {
    throw new Error("this browser cannot capture a whole tab: play the music in the page's own player on an allowed site (options)");
  }
  const mediaStreamId = await chrome.tabCapture.getMediaStreamId({ targetTabId: tab.id });
  const r = await send("start-tab-capture", { mediaStreamId, tabId: tab.id, title: tab.title, url: tab.url });
  if (!r || !r.ok) throw new Error((r && r.error) || "tab capture failed");
}

async function onStart() {
  showError("");
  const tab = await activeTab();
  if (!tab) return showError("No active tab.");
  // Prefer the page's own player where the content script runs and the site is allowed.
  const status = await chrome.tabs.sendMessage(tab.id, { type: "status", target: "content" }).catch(() => null);
  try {
    if (status && status.allowed && status.hasMedia) {
      const r = await send("start-element", { tabId: tab.id });
      if (!r || !r.ok) await startTabCapture(tab);
    } else {
      await startTabCapture(tab);
    }
  } catch (e) {
    showError(`Could not start: ${e.message || e}`);
  }
}

async function load() {
  const [{ settings: s }, { live: l }, { reminderState }] = await Promise.all([
    chrome.storage.local.get("settings"),
    chrome.storage.session.get("live"),
    chrome.storage.local.get("reminderState"),
  ]);
  settings = mergeSettings(s);
  live = l || null;
  const shown = currentStream();
  const key = shown ? `timeline:${shown.stream}` : null;
  storedTimeline = key ? (await chrome.storage.session.get(key))[key] || [] : [];
  const rs = reminderState || {};
  $("reminder-status").textContent = !settings.reminders.enabled
    ? "off"
    : rs.snoozedUntilMs > Date.now()
      ? `snoozed until ${new Date(rs.snoozedUntilMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`
      : `after ${settings.reminders.calmMinutes} min of calm`;
  render();
}

$("start").addEventListener("click", onStart);
$("stop").addEventListener("click", async () => {
  const entry = currentStream();
  if (entry) await send("stop-stream", { stream: entry.stream });
});
$("use-tabcapture").addEventListener("click", async () => {
  showError("");
  try {
    await startTabCapture(await activeTab());
  } catch (e) {
    showError(`Could not start tab capture: ${e.message || e}`);
  }
});
$("breathe").addEventListener("click", () => send("open-breathing", {}));
for (const b of document.querySelectorAll("[data-snooze]")) {
  b.addEventListener("click", async () => {
    await send("snooze", { minutes: Number(b.dataset.snooze) });
    load();
  });
}

chrome.storage.onChanged.addListener(() => load());
setInterval(render, 1000); // slide the timeline
load().then(async () => {
  if (!currentStream()) {
    probe = { status: await probeDaemon() };
    render();
  }
});
