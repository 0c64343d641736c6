// Reminder rules (extension/lib/reminders.js). Run: node --test tests/extension_unit/
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  initialReminderState, onMoodEvent, decide, recordOffer, snooze, clearSnooze, inQuietHours,
  parseClock, calmMinutes, localClock, MAX_EVENT_GAP_MS, STREAK_GRACE_MS,
} from "../../extension/lib/reminders.js";

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const settings = { enabled: true, calmMinutes: 10, quietHours: { enabled: false, start: "22:00", end: "07:00" }, dailyCap: 3, minGapMinutes: 30 };
const ctx = (nowMs, extra = {}) => ({ nowMs, dayKey: "2026-01-05", minuteOfDay: 12 * 60, fullscreen: false, ...extra });

/** Feed one event a second of `state` from `fromMs` for `seconds`. */
function feed(state, mood, fromMs, seconds) {
  let s = state;
  for (let i = 0; i <= seconds; i++) s = onMoodEvent(s, mood, fromMs + i * 1000);
  return s;
}

test("offers after N minutes of continuous calm, not before", () => {
  let s = feed(initialReminderState(), "calm", T0, 9 * 60);
  assert.equal(decide(s, settings, ctx(T0 + 9 * MIN)).reason, "not_calm_long_enough");
  s = feed(s, "calm", T0 + 9 * MIN + 1000, 60);
  const v = decide(s, settings, ctx(T0 + 10 * MIN + 1000));
  assert.deepEqual(v, { offer: true, reason: "calm" });
});

test("speech ends the calm streak at once", () => {
  let s = feed(initialReminderState(), "calm", T0, 9 * 60);
  s = onMoodEvent(s, "speech", T0 + 9 * MIN + 1000);
  assert.equal(s.calmSinceMs, null);
  s = feed(s, "calm", T0 + 9 * MIN + 2000, 5 * 60);
  assert.ok(calmMinutes(s, T0 + 14 * MIN) < 5.1);
  assert.equal(decide(s, settings, ctx(T0 + 14 * MIN)).offer, false);
});

for (const other of ["silence", "neutral", "aggressive", "warming_up"]) {
  test(`${other} for a few seconds inside calm music keeps the streak, and no offer meanwhile`, () => {
    let s = feed(initialReminderState(), "calm", T0, 9 * 60 + 50);
    const blip = T0 + 9 * MIN + 51_000;
    s = feed(s, other, blip, (STREAK_GRACE_MS - 2000) / 1000); // 19 events, 18 s
    assert.equal(s.calmSinceMs, T0);
    assert.equal(decide(s, settings, ctx(blip + 18_000)).reason, "not_calm_now");
    s = onMoodEvent(s, "calm", blip + 19_000);
    assert.deepEqual(decide(s, settings, ctx(blip + 19_000)), { offer: true, reason: "calm" });
  });

  test(`${other} that lasts ${STREAK_GRACE_MS / 1000} s ends the calm streak`, () => {
    let s = feed(initialReminderState(), "calm", T0, 9 * 60);
    s = feed(s, other, T0 + 9 * MIN + 1000, STREAK_GRACE_MS / 1000);
    assert.equal(s.calmSinceMs, null);
    const again = T0 + 9 * MIN + 2000 + STREAK_GRACE_MS;
    s = feed(s, "calm", again, 5 * 60);
    assert.equal(s.calmSinceMs, again);
    assert.equal(decide(s, settings, ctx(again + 5 * MIN)).reason, "not_calm_long_enough");
  });
}

test("the streak's grace counts from the first non-calm event, through a change of state", () => {
  let s = feed(initialReminderState(), "calm", T0, 9 * 60);
  s = feed(s, "neutral", T0 + 9 * MIN + 1000, 10);
  s = feed(s, "silence", T0 + 9 * MIN + 12_000, 10); // 21 s of not calm in all
  assert.equal(s.calmSinceMs, null);
});

test("speech never counts as calm, however long", () => {
  const s = feed(initialReminderState(), "speech", T0, 60 * 60);
  assert.equal(decide(s, settings, ctx(T0 + 60 * MIN)).offer, false);
});

test("a gap in events breaks the streak", () => {
  let s = feed(initialReminderState(), "calm", T0, 8 * 60);
  const after = T0 + 8 * MIN + MAX_EVENT_GAP_MS + 5000;
  s = onMoodEvent(s, "calm", after);
  assert.equal(s.calmSinceMs, after);
});

test("snooze holds offers until it ends, and never shortens", () => {
  let s = feed(initialReminderState(), "calm", T0, 11 * 60);
  const now = T0 + 11 * MIN;
  s = snooze(s, 30, now);
  assert.equal(decide(s, settings, ctx(now + 29 * MIN)).reason, "snoozed");
  s = snooze(s, 15, now); // shorter snooze later must not cut the first
  assert.equal(s.snoozedUntilMs, now + 30 * MIN);
  s = feed(s, "calm", now, 31 * 60);
  assert.equal(decide(s, settings, ctx(now + 31 * MIN)).offer, true);
  assert.equal(clearSnooze(s).snoozedUntilMs, 0);
});

test("snooze lengths 15/30/60", () => {
  for (const m of [15, 30, 60]) assert.equal(snooze(initialReminderState(), m, T0).snoozedUntilMs, T0 + m * MIN);
});

test("quiet hours, plain and wrapping midnight", () => {
  const wrap = { enabled: true, start: "22:00", end: "07:00" };
  assert.equal(inQuietHours(wrap, 23 * 60), true);
  assert.equal(inQuietHours(wrap, 3 * 60), true);
  assert.equal(inQuietHours(wrap, 7 * 60), false);
  assert.equal(inQuietHours(wrap, 12 * 60), false);
  const day = { enabled: true, start: "13:00", end: "14:30" };
  assert.equal(inQuietHours(day, 13 * 60 + 59), true);
  assert.equal(inQuietHours(day, 14 * 60 + 30), false);
  assert.equal(inQuietHours({ ...day, enabled: false }, 13 * 60 + 10), false);
  assert.ok(Number.isNaN(parseClock("25:00")));

  const s = feed(initialReminderState(), "calm", T0, 11 * 60);
  const quiet = { ...settings, quietHours: wrap };
  assert.equal(decide(s, quiet, ctx(T0 + 11 * MIN, { minuteOfDay: 23 * 60 })).reason, "quiet_hours");
  assert.equal(decide(s, quiet, ctx(T0 + 11 * MIN, { minuteOfDay: 8 * 60 })).offer, true);
});

test("daily cap counts offers per local day", () => {
  const capped = { ...settings, dailyCap: 2, minGapMinutes: 0, calmMinutes: 1 };
  let s = initialReminderState();
  let now = T0;
  let offers = 0;
  for (let round = 0; round < 5; round++) {
    s = feed(s, "calm", now, 70);
    now += 71 * 1000;
    if (decide(s, capped, ctx(now)).offer) {
      s = recordOffer(s, now, "2026-01-05");
      offers++;
    }
  }
  assert.equal(offers, 2);
  assert.equal(decide(feed(s, "calm", now, 70), capped, ctx(now + 71_000)).reason, "daily_cap");
  // next day the counter starts over
  assert.equal(decide(feed(s, "calm", now, 70), capped, ctx(now + 71_000, { dayKey: "2026-01-06" })).offer, true);
});

test("no offer while a video is fullscreen", () => {
  const s = feed(initialReminderState(), "calm", T0, 11 * 60);
  assert.equal(decide(s, settings, ctx(T0 + 11 * MIN, { fullscreen: true })).reason, "fullscreen");
  assert.equal(decide(s, settings, ctx(T0 + 11 * MIN, { fullscreen: false })).offer, true);
});

test("an offer restarts the streak and respects the minimum gap", () => {
  let s = feed(initialReminderState(), "calm", T0, 11 * 60);
  let now = T0 + 11 * MIN;
  s = recordOffer(s, now, "2026-01-05");
  assert.equal(s.calmSinceMs, null);
  s = feed(s, "calm", now, 11 * 60);
  now += 11 * MIN;
  assert.equal(decide(s, settings, ctx(now)).reason, "too_soon");
  s = feed(s, "calm", now, 20 * 60);
  assert.equal(decide(s, settings, ctx(now + 20 * MIN)).offer, true);
});

test("disabled means never", () => {
  const s = feed(initialReminderState(), "calm", T0, 30 * 60);
  assert.equal(decide(s, { ...settings, enabled: false }, ctx(T0 + 30 * MIN)).reason, "disabled");
});

test("localClock gives the local day key and minute", () => {
  const d = new Date(2026, 2, 9, 7, 5);
  assert.deepEqual(localClock(d), { dayKey: "2026-03-09", minuteOfDay: 425 });
});
