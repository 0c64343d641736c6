// When to offer a breathing break: pure functions over plain data, no chrome.* and no
// clock of their own (the caller passes `nowMs` and the local time), so node tests
// can drive every rule.
//
// The rules, in the order `decide` checks them:
//   1. reminders enabled;
//   2. the music has been *continuously* calm for `calmMinutes` (any other state —
//      speech, silence, neutral, aggressive, warming_up — or a gap in events resets it);
//   3. not snoozed;
//   4. not inside quiet hours (which may wrap midnight);
//   5. fewer than `dailyCap` offers today;
//   6. no video is fullscreen;
//   7. at least `minGapMinutes` since the last offer.

/** Gap between two mood events, in ms, after which a calm streak counts as broken. */
export const MAX_EVENT_GAP_MS = 15_000;

export const DEFAULT_REMINDER_SETTINGS = Object.freeze({
  enabled: true,
  /** Minutes of continuous calm music before an offer. */
  calmMinutes: 10,
  /** Snooze lengths offered, in minutes. */
  snoozeOptionsMinutes: [15, 30, 60],
  /** Snooze applied by the notification's "Snooze" button, in minutes. */
  defaultSnoozeMinutes: 15,
  /** Quiet hours in local time, "HH:MM"; start > end wraps midnight. */
  quietHours: { enabled: true, start: "22:00", end: "07:00" },
  /** Offers per local day at most. */
  dailyCap: 3,
  /** Minimum time between two offers, in minutes. */
  minGapMinutes: 30,
});

/** The reminder state the service worker keeps in chrome.storage.local. */
export function initialReminderState() {
  return {
    /** Epoch ms when the current calm streak began, or null. */
    calmSinceMs: null,
    /** Epoch ms of the last mood event seen. */
    lastEventMs: null,
    /** Epoch ms until which no offer is made. */
    snoozedUntilMs: 0,
    /** Local day ("YYYY-MM-DD") the counter belongs to, and offers made that day. */
    day: null,
    offersToday: 0,
    /** Epoch ms of the last offer, or null. */
    lastOfferMs: null,
  };
}

/** "HH:MM" to minutes after midnight; NaN when malformed. */
export function parseClock(hhmm) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(String(hhmm ?? "").trim());
  if (!m) return NaN;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 23 || min > 59) return NaN;
  return h * 60 + min;
}

/** Whether `minuteOfDay` (0..1439, local) falls inside the quiet hours. */
export function inQuietHours(quietHours, minuteOfDay) {
  if (!quietHours || !quietHours.enabled) return false;
  const start = parseClock(quietHours.start);
  const end = parseClock(quietHours.end);
  if (Number.isNaN(start) || Number.isNaN(end) || start === end) return false;
  return start < end
    ? minuteOfDay >= start && minuteOfDay < end
    : minuteOfDay >= start || minuteOfDay < end; // wraps midnight
}

/** Local day key and minute of day for a Date (the caller's clock, the caller's zone). */
export function localClock(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return {
    dayKey: `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`,
    minuteOfDay: date.getHours() * 60 + date.getMinutes(),
  };
}

/**
 * Fold one mood event into the state. Only `calm` continues a streak; every other state
 * (and a gap of more than MAX_EVENT_GAP_MS since the previous event) resets it.
 */
export function onMoodEvent(state, moodState, nowMs) {
  const next = { ...state };
  const gap = state.lastEventMs == null ? Infinity : nowMs - state.lastEventMs;
  if (moodState === "calm") {
    if (state.calmSinceMs == null || gap > MAX_EVENT_GAP_MS) next.calmSinceMs = nowMs;
  } else {
    next.calmSinceMs = null;
  }
  next.lastEventMs = nowMs;
  return next;
}

/** Minutes of continuous calm so far (0 when not calm). */
export function calmMinutes(state, nowMs) {
  if (state.calmSinceMs == null) return 0;
  return Math.max(0, nowMs - state.calmSinceMs) / 60_000;
}

/**
 * Decide whether to offer now. `ctx`: {nowMs, dayKey, minuteOfDay, fullscreen}.
 * Returns {offer: boolean, reason: string} — the reason names the rule that said no.
 */
export function decide(state, settings, ctx) {
  const s = { ...DEFAULT_REMINDER_SETTINGS, ...settings };
  if (!s.enabled) return { offer: false, reason: "disabled" };
  if (calmMinutes(state, ctx.nowMs) < s.calmMinutes) return { offer: false, reason: "not_calm_long_enough" };
  if (ctx.nowMs < (state.snoozedUntilMs || 0)) return { offer: false, reason: "snoozed" };
  if (inQuietHours(s.quietHours, ctx.minuteOfDay)) return { offer: false, reason: "quiet_hours" };
  const offersToday = state.day === ctx.dayKey ? state.offersToday : 0;
  if (offersToday >= s.dailyCap) return { offer: false, reason: "daily_cap" };
  if (ctx.fullscreen) return { offer: false, reason: "fullscreen" };
  if (state.lastOfferMs != null && ctx.nowMs - state.lastOfferMs < s.minGapMinutes * 60_000) {
    return { offer: false, reason: "too_soon" };
  }
  return { offer: true, reason: "calm" };
}

/** Record that an offer was made: counts it for the day and starts a fresh calm streak. */
export function recordOffer(state, nowMs, dayKey) {
  const offersToday = state.day === dayKey ? state.offersToday : 0;
  return { ...state, day: dayKey, offersToday: offersToday + 1, lastOfferMs: nowMs, calmSinceMs: null };
}

/** Snooze for `minutes` from now; a later snooze never shortens an earlier one. */
export function snooze(state, minutes, nowMs) {
  const until = nowMs + Math.max(0, Number(minutes) || 0) * 60_000;
  return { ...state, snoozedUntilMs: Math.max(state.snoozedUntilMs || 0, until) };
}

/** Clear a snooze (the user asked for reminders again). */
export function clearSnooze(state) {
  return { ...state, snoozedUntilMs: 0 };
}
