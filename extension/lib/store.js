// The service worker's stored state, written as little and as seldom as it can be:
// `live` (chrome.storage.session) is cached in memory and saved coalesced, timelines
// live under their own keys and are flushed every TIMELINE_FLUSH_MS, and the reminder
// state is saved only when it changes in substance. The worker is the only writer of all
// of it, so a cache per worker life is safe; Chrome may restart the worker at any time,
// and the caches then load again from storage.
import { initialReminderState } from "./reminders.js";

/** Timeline points kept per stream: 10 minutes at one event a second. */
export const TIMELINE_MAX = 600;
/**
 * A stream's timeline lives under its own key and is rewritten only this often, in ms;
 * the points in between ride along in the small `live` record (`recent`).
 */
export const TIMELINE_FLUSH_MS = 15_000;
/** A burst of updates within this delay becomes one write of `live`, in ms. */
const LIVE_SAVE_DELAY_MS = 250;
/** The reminder state is saved for a new event time only if the saved one is older, in ms. */
const REMINDER_EVENT_SAVE_MS = 5_000;

// This worker is the only writer of `live`: it reads it once per life of the worker,
// keeps it in memory and saves it coalesced (one write per burst, never per field).
let liveCache = null;
let liveSaveTimer = null;

export async function getLive() {
  if (!liveCache) {
    const { live } = await chrome.storage.session.get("live");
    liveCache = live || { streams: {}, daemon: null, silentTabs: {}, fullscreenTabs: {}, stoppedTabs: {} };
  }
  return liveCache;
}

export function setLive(live) {
  liveCache = live;
  liveSaveTimer ??= setTimeout(() => {
    liveSaveTimer = null;
    chrome.storage.session.set({ live: liveCache }).catch((e) => console.warn("saving live state", e));
  }, LIVE_SAVE_DELAY_MS);
}

/** Storage key of a stream's timeline ({t, s, p} points, oldest first). */
export const timelineKey = (stream) => `timeline:${stream}`;

/** Move the stream's `recent` points into its timeline key (one write per flush). */
export async function flushTimeline(entry, nowMs) {
  const key = timelineKey(entry.stream);
  const stored = (await chrome.storage.session.get(key))[key] || [];
  await chrome.storage.session.set({ [key]: [...stored, ...(entry.recent || [])].slice(-TIMELINE_MAX) });
  entry.recent = [];
  entry.timelineFlushedMs = nowMs;
}

export async function forgetTimeline(stream) {
  await chrome.storage.session.remove(timelineKey(stream)).catch(() => {});
}

// Reminder state: in memory for the worker's life, saved when it changes in substance
// (every event moves `lastEventMs`; saving that every second would be a disk write a second).
let reminderCache = null; // {state, savedEventMs, verdict}

export async function getReminderState() {
  if (!reminderCache) {
    const { reminderState, lastReminderVerdict } = await chrome.storage.local.get(["reminderState", "lastReminderVerdict"]);
    const state = { ...initialReminderState(), ...reminderState };
    reminderCache = { state, savedEventMs: state.lastEventMs, verdict: lastReminderVerdict ?? null };
  }
  return reminderCache.state;
}

export async function putReminderState(state, verdict = reminderCache ? reminderCache.verdict : null) {
  const before = await getReminderState();
  const changed = Object.keys(state).some((k) => k !== "lastEventMs" && state[k] !== before[k]);
  const stale = (state.lastEventMs ?? 0) - (reminderCache.savedEventMs ?? 0) >= REMINDER_EVENT_SAVE_MS;
  const verdictChanged = verdict !== reminderCache.verdict;
  reminderCache.state = state;
  reminderCache.verdict = verdict;
  if (!changed && !stale && !verdictChanged) return;
  reminderCache.savedEventMs = state.lastEventMs;
  await chrome.storage.local.set({ reminderState: state, lastReminderVerdict: verdict });
}
