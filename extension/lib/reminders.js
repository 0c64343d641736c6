// When to offer a breathing break: pure functions over plain data, no chrome.* and no
// clock of their own (the caller passes `nowMs` and the local time), so node tests
// can drive every rule.
//
// The rules, in the order `decide` checks them:
//   1. reminders enabled;
//   2. the music is calm now and has been calm for `calmMinutes` (speech, or a gap in
//      events, resets it at once; silence, neutral, aggressive or warming_up reset it when
//      they last STREAK_GRACE_MS);
//   3. not snoozed;
//   4. not inside quiet hours (which may wrap midnight);
//   5. fewer than `dailyCap` offers today;
//   6. no video is fullscreen;
//   7. at least `minGapMinutes` since the last offer.

/** Gap between two mood events, in ms, after which a calm streak counts as broken. */
export const MAX_EVENT_GAP_MS = 15_000;

/**
 * A stretch of silence, neutral, aggressive or warming_up shorter than this, between calm
 * events, does not break a calm streak. The daemon's state follows a passage of a few
 * seconds that the judgement puts across the neutral band (on the transitions benchmark's
 * broadest sample, 10-17 such flips per hour of steady music, 3-19 s each), and a calm
 * playlist pauses a few seconds between tracks: neither is the end of the calm music.
 * Speech breaks it at once (a talk is never the music's).
 */
export const STREAK_GRACE_MS = 20_000;

export const DEFAULT_REMINDER_SETTINGS = Object.freeze({
  enabled: true,
  /** Minutes of a calm streak (see STREAK_GRACE_MS) before an offer. */
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
    /** Epoch ms when the current run of non-calm events began, or null while calm. */
    otherSinceMs: null,
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
 * Fold one mood event into the state. `calm` starts or continues a streak; `speech` (and a
 * gap of more than MAX_EVENT_GAP_MS since the previous event) ends it at once; any other
 * state ends it once it has lasted STREAK_GRACE_MS.
 */
export function onMoodEvent(state, moodState, nowMs) {
  const next = { ...state };
  const gap = state.lastEventMs == null ? Infinity : nowMs - state.lastEventMs;
  if (gap > MAX_EVENT_GAP_MS) {
    next.calmSinceMs = null;
    next.otherSinceMs = null;
  }
  if (moodState === "calm") {
    if (next.calmSinceMs == null) next.calmSinceMs = nowMs;
    next.otherSinceMs = null;
  } else {
    next.otherSinceMs = next.otherSinceMs ?? nowMs;
    if (moodState === "speech" || nowMs - next.otherSinceMs >= STREAK_GRACE_MS) {
      next.calmSinceMs = null;
    }
  }
  next.lastEventMs = nowMs;
  return next;
}

/** Minutes of the calm streak so far, short interruptions included (0 when none). */
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
  if (state.otherSinceMs != null) return { offer: false, reason: "not_calm_now" };
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
