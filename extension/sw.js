// Service worker: stateless glue. Every fact it needs lives in chrome.storage
// (session: live state that dies with the browser; local: settings, reminder state,
// stats), so Chrome may stop and restart it between any two messages.
// In Firefox the same file runs in an event page (background.html) whose frame holds the
// engine, since Firefox has no offscreen documents (HAS_OFFSCREEN below).
// Messages are {type, target, data}; this file handles target "background".
import { describeState } from "./lib/states.js";
import { mergeSettings } from "./lib/settings.js";
import { onMoodEvent, decide, recordOffer, snooze, localClock } from "./lib/reminders.js";
import {
  getLive, setLive, flushTimeline, forgetTimeline, getReminderState, putReminderState, TIMELINE_FLUSH_MS,
} from "./lib/store.js";

const OFFSCREEN_URL = "offscreen.html";
const NOTIFICATION_ID = "streamchill-breathe";
/** Offers kept in the local log the popup (and the tests) read. */
const REMINDER_LOG_MAX = 50;

// --- storage helpers ---

async function getSettings() {
  const { settings } = await chrome.storage.local.get("settings");
  return mergeSettings(settings);
}

// Messages arrive concurrently and each does read-modify-write on storage; run them one
// at a time so no update is lost.
let chain = Promise.resolve();
function serialized(fn) {
  const run = chain.then(fn, fn);
  chain = run.catch(() => {});
  return run;
}

// --- the engine (offscreen document) ---

/** Chrome: the engine is an offscreen document we open on demand. Firefox: a frame of
 * the background page, there as long as we are (background.html). */
const HAS_OFFSCREEN = !!(globalThis.chrome && chrome.offscreen && chrome.offscreen.createDocument);

/** Whether the engine runs now (and can be told about new settings). */
async function engineRunning() {
  if (!HAS_OFFSCREEN) return true;
  const contexts = await chrome.runtime.getContexts({ contextTypes: ["OFFSCREEN_DOCUMENT"] });
  return contexts.length > 0;
}

let creating = null;
async function ensureEngine() {
  if (!HAS_OFFSCREEN) {
    // The frame may still be loading: its engine-ready message brings the config then.
    await pushConfig().catch(() => {});
    return;
  }
  const contexts = await chrome.runtime.getContexts({
    contextTypes: ["OFFSCREEN_DOCUMENT"],
    documentUrls: [chrome.runtime.getURL(OFFSCREEN_URL)],
  });
  if (contexts.length === 0) {
    creating ??= chrome.offscreen.createDocument({
      url: OFFSCREEN_URL,
      reasons: ["USER_MEDIA"],
      justification: "Capture tab audio and stream it to the local Stream & Chill daemon.",
    });
    try {
      await creating;
    } finally {
      creating = null;
    }
  }
  await pushConfig();
}

async function pushConfig() {
  const s = await getSettings();
  await chrome.runtime.sendMessage({
    type: "config", target: "offscreen", data: { address: s.daemonAddress, token: s.token || "" },
  });
}

// --- badge ---

let badgeShown; // the state the badge shows now (undefined: unknown, after a restart)

async function showBadge(state) {
  if (state === badgeShown) return;
  badgeShown = state;
  const d = describeState(state);
  await chrome.action.setBadgeText({ text: state ? d.badge : "" });
  if (state) await chrome.action.setBadgeBackgroundColor({ color: d.color });
  await chrome.action.setTitle({ title: state ? `Stream & Chill: ${d.label}` : "Stream & Chill" });
}

// --- reminders ---

async function anyFullscreen(live) {
  if (Object.values(live.fullscreenTabs || {}).some(Boolean)) return true;
  try {
    const w = await chrome.windows.getLastFocused();
    return w.state === "fullscreen";
  } catch {
    return false;
  }
}

async function considerReminder(moodState, live) {
  const settings = await getSettings();
  const now = Date.now();
  let state = onMoodEvent(await getReminderState(), moodState, now);
  const { dayKey, minuteOfDay } = localClock(new Date(now));
  const verdict = decide(state, settings.reminders, {
    nowMs: now, dayKey, minuteOfDay, fullscreen: await anyFullscreen(live),
  });
  if (verdict.offer) {
    state = recordOffer(state, now, dayKey);
    await offerBreak(settings, now);
  }
  await putReminderState(state, verdict.reason);
}

async function offerBreak(settings, now) {
  const snoozeMin = settings.reminders.defaultSnoozeMinutes;
  let error = null;
  const note = {
    type: "basic",
    iconUrl: "icons/icon128.png",
    title: "The music has been calm for a while",
    message: `A ${settings.breathing.lengthMinutes}-minute breathing break?`,
  };
  try {
    // A notification only: never a window or tab opened on our own initiative.
    await chrome.notifications.create(NOTIFICATION_ID, {
      ...note,
      buttons: [{ title: "Start" }, { title: `Snooze ${snoozeMin} min` }],
      priority: 0,
      silent: true,
    });
  } catch (e) {
    error = String(e && e.message ? e.message : e);
    // Firefox refuses buttons (and silent): offer the plain notification, a click on it
    // opens the breathing page (onClicked below).
    try {
      await chrome.notifications.create(NOTIFICATION_ID, { ...note, message: `${note.message} Click to start.` });
      error = null;
    } catch {
      /* keep the first error */
    }
  }
  const { reminderLog = [] } = await chrome.storage.local.get("reminderLog");
  reminderLog.push({ atMs: now, notificationId: NOTIFICATION_ID, error });
  await chrome.storage.local.set({ reminderLog: reminderLog.slice(-REMINDER_LOG_MAX) });
}

async function snoozeFor(minutes) {
  await putReminderState(snooze(await getReminderState(), minutes, Date.now()));
  await chrome.notifications.clear(NOTIFICATION_ID).catch(() => {});
}

function openBreathing() {
  // Only ever called from a user's click (notification button, popup link).
  return chrome.tabs.create({ url: chrome.runtime.getURL("breathe.html?autostart=1") });
}

// Firefox has no notification buttons (offerBreak); feature-checked, not sniffed.
chrome.notifications.onButtonClicked?.addListener((id, button) => {
  if (id !== NOTIFICATION_ID) return;
  serialized(async () => {
    if (button === 0) {
      await chrome.notifications.clear(id);
      await openBreathing();
    } else {
      await snoozeFor((await getSettings()).reminders.defaultSnoozeMinutes);
    }
  });
});

chrome.notifications.onClicked.addListener((id) => {
  if (id !== NOTIFICATION_ID) return;
  chrome.notifications.clear(id);
  openBreathing();
});

// --- live state from the engine ---

async function onMood(ev) {
  const live = await getLive();
  const entry = live.streams[ev.stream];
  if (!entry) return; // a stream we already closed
  entry.last = {
    state: ev.state, calm_probability: ev.calm_probability, speech_probability: ev.speech_probability,
    bpm: ev.features ? ev.features.bpm : null, media_time_s: ev.media_time_s, seq: ev.seq,
    reason: ev.reason ?? null, atMs: Date.now(),
  };
  const now = Date.now();
  entry.recent = [...(entry.recent || []), { t: now, s: ev.state, p: ev.calm_probability }];
  if (now - (entry.timelineFlushedMs ?? entry.startedMs) >= TIMELINE_FLUSH_MS) await flushTimeline(entry, now);
  live.current = ev.stream;
  setLive(live);
  await showBadge(ev.state);
  await considerReminder(ev.state, live);
}

async function onStreamOpen(d) {
  const live = await getLive();
  live.streams[d.stream] = {
    stream: d.stream, kind: d.kind, tabId: d.tabId, title: d.title || "", url: d.url || "",
    capture: d.capture || null, // {converter, input_rate_hz, tap}: how the audio is taken
    startedMs: Date.now(), last: null, recent: [], timelineFlushedMs: null,
  };
  await forgetTimeline(d.stream); // a stream id reused by the same tab starts a new timeline
  live.current = d.stream;
  if (d.tabId != null) delete live.silentTabs[d.tabId];
  setLive(live);
  await showBadge("warming_up");
}

async function onStreamClose(d) {
  const live = await getLive();
  delete live.streams[d.stream];
  await forgetTimeline(d.stream);
  if (live.current === d.stream) live.current = Object.keys(live.streams)[0] || null;
  setLive(live);
  const cur = live.current && live.streams[live.current];
  await showBadge(cur && cur.last ? cur.last.state : null);
}

async function handle(msg, sender) {
  const d = msg.data || {};
  const tabId = sender.tab ? sender.tab.id : d.tabId;
  switch (msg.type) {
    // from content scripts
    case "ensure-engine":
      await ensureEngine();
      return { ok: true };
    case "tap-silent": {
      const live = await getLive();
      live.silentTabs[tabId] = { reason: d.reason || "silent", atMs: Date.now() };
      setLive(live);
      return { ok: true };
    }
    case "fullscreen": {
      const live = await getLive();
      live.fullscreenTabs[tabId] = !!d.fullscreen;
      setLive(live);
      return { ok: true };
    }
    case "tab-stopped-by-user": {
      const live = await getLive();
      live.stoppedTabs[tabId] = true;
      setLive(live);
      return { ok: true };
    }
    // from the engine
    case "engine-ready":
      await pushConfig();
      return { ok: true };
    case "daemon-status": {
      const live = await getLive();
      live.daemon = { ...d, atMs: Date.now() };
      setLive(live);
      return { ok: true };
    }
    case "stream-open":
      await onStreamOpen(d);
      return { ok: true };
    case "stream-close":
      await onStreamClose(d);
      return { ok: true };
    case "stream-error": {
      const live = await getLive();
      if (live.streams[d.stream]) live.streams[d.stream].error = d.error;
      setLive(live);
      return { ok: true };
    }
    case "mood":
      await onMood(d);
      return { ok: true };
    case "stream_start":
    case "stream_end":
      return { ok: true };
    // from the popup / pages
    case "start-tab-capture": {
      await ensureEngine();
      // Hand over from an element tap on the same tab, if any, so the daemon
      // does not analyse the same music twice.
      await chrome.tabs.sendMessage(d.tabId, { type: "stop-tap", target: "content" }).catch(() => {});
      return chrome.runtime.sendMessage({ type: "capture-tab", target: "offscreen", data: d });
    }
    case "start-element": {
      const live = await getLive();
      delete live.stoppedTabs[d.tabId];
      setLive(live);
      return chrome.tabs.sendMessage(d.tabId, { type: "start-tap", target: "content" });
    }
    case "stop-stream": {
      const live = await getLive();
      const entry = live.streams[d.stream];
      if (entry && entry.kind === "element") {
        live.stoppedTabs[entry.tabId] = true;
        setLive(live);
        await chrome.tabs.sendMessage(entry.tabId, { type: "stop-tap", target: "content" }).catch(() => {});
      }
      await chrome.runtime.sendMessage({ type: "stop-stream", target: "offscreen", data: d }).catch(() => {});
      await onStreamClose(d);
      return { ok: true };
    }
    case "snooze":
      await snoozeFor(d.minutes);
      return { ok: true };
    case "open-breathing":
      await openBreathing();
      return { ok: true };
    default:
      return undefined;
  }
}

/**
 * Messages that touch no stored state run beside the chain: starting a tab capture waits
 * for getUserMedia in the engine, and mood events must not queue up behind it.
 */
const UNSERIALIZED = new Set(["start-tab-capture"]);

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (!msg || msg.target !== "background") return false;
  const run = UNSERIALIZED.has(msg.type) ? handle(msg, sender) : serialized(() => handle(msg, sender));
  run.then(
    (r) => sendResponse(r),
    (e) => sendResponse({ ok: false, error: String(e && e.message ? e.message : e) }),
  );
  return true; // async response
});

// Settings changed in the options page: tell the engine, if it runs.
chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== "local" || !changes.settings) return;
  serialized(async () => {
    if (await engineRunning()) await pushConfig().catch(() => {});
  });
});

chrome.tabs.onRemoved.addListener((tabId) => {
  serialized(async () => {
    const live = await getLive();
    delete live.silentTabs[tabId];
    delete live.fullscreenTabs[tabId];
    delete live.stoppedTabs[tabId];
    setLive(live);
  });
});

// Housekeeping once a minute: forget streams the engine no longer has (the engine was
// closed, the extension reloaded, the browser slept), so popup and badge never show a
// stale state.
const HOUSEKEEPING_ALARM = "housekeeping";
/** A stream with no mood event for this long is shown as stale, in ms. */
const STALE_AFTER_MS = 90_000;

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name !== HOUSEKEEPING_ALARM) return;
  serialized(async () => {
    const live = await getLive();
    const running = await engineRunning();
    let engine = [];
    if (running) {
      const r = await chrome.runtime.sendMessage({ type: "list-streams", target: "offscreen" }).catch(() => null);
      engine = r && r.streams ? r.streams.map((x) => x.stream) : [];
    }
    const now = Date.now();
    // Nothing captured any more: close the engine (and its sockets); a tap reopens it.
    if (HAS_OFFSCREEN && running && engine.length === 0 && Object.keys(live.streams).length === 0) {
      await chrome.offscreen.closeDocument().catch(() => {});
    }
    for (const [id, entry] of Object.entries(live.streams)) {
      const lastMs = entry.last ? entry.last.atMs : entry.startedMs;
      if (!engine.includes(id) && now - lastMs > STALE_AFTER_MS) {
        delete live.streams[id];
        await forgetTimeline(id);
      }
    }
    if (live.current && !live.streams[live.current]) live.current = Object.keys(live.streams)[0] || null;
    setLive(live);
    const cur = live.current && live.streams[live.current];
    await showBadge(cur && cur.last ? cur.last.state : null);
  });
});

chrome.runtime.onInstalled.addListener(() => {
  chrome.action.setBadgeText({ text: "" });
  chrome.alarms.create(HOUSEKEEPING_ALARM, { periodInMinutes: 1 });
});
chrome.runtime.onStartup.addListener(() => {
  chrome.alarms.create(HOUSEKEEPING_ALARM, { periodInMinutes: 1 });
});
