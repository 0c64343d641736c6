// Breathing timing (extension/lib/breathing.js) and stats (extension/lib/stats.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { PATTERNS, getPattern, customPattern, cycleSeconds, planSession, phaseAt, guideScale } from "../../extension/lib/breathing.js";
import { recordSession, currentStreak, emptyStats, daysBetween } from "../../extension/lib/stats.js";

test("pattern cycle lengths", () => {
  assert.equal(cycleSeconds(PATTERNS.box), 16);
  assert.equal(cycleSeconds(PATTERNS["478"]), 19);
  assert.equal(cycleSeconds(PATTERNS.resonance), 11); // ~5.5 breaths a minute
  assert.ok(60 / cycleSeconds(PATTERNS.resonance) > 5 && 60 / cycleSeconds(PATTERNS.resonance) < 6.5);
  assert.equal(cycleSeconds(PATTERNS.sigh), 9);
});

test("box: cue per second across one cycle", () => {
  const p = PATTERNS.box;
  const plan = planSession(p, 16);
  const at = (t) => phaseAt(p, plan, t);
  assert.equal(at(0).kind, "inhale");
  assert.equal(at(3.99).kind, "inhale");
  assert.equal(at(4).kind, "hold");
  assert.equal(at(8).kind, "exhale");
  assert.equal(at(12).kind, "hold");
  assert.equal(at(15.9).cue, "Hold");
  assert.equal(at(16).done, true);
  assert.ok(Math.abs(at(5).remainingS - 3) < 1e-9);
});

test("4-7-8 timing", () => {
  const p = PATTERNS["478"];
  const plan = planSession(p, 60);
  assert.equal(plan.cycles, 3);
  assert.equal(phaseAt(p, plan, 4).kind, "hold");
  assert.equal(phaseAt(p, plan, 10.9).kind, "hold");
  assert.equal(phaseAt(p, plan, 11).kind, "exhale");
  assert.equal(phaseAt(p, plan, 19).kind, "inhale");
  assert.equal(phaseAt(p, plan, 19).cycle, 1);
});

test("sessions are whole cycles, at least one", () => {
  assert.deepEqual(planSession(PATTERNS.resonance, 120), { cycles: 11, totalS: 121, cycleS: 11 });
  assert.equal(planSession(PATTERNS["478"], 5).cycles, 1);
});

test("sigh: double inhale then long exhale; guide grows then shrinks", () => {
  const p = PATTERNS.sigh;
  const plan = planSession(p, 9);
  const kinds = [0, 1, 2, 2.5, 3, 5, 8.9].map((t) => phaseAt(p, plan, t).kind);
  assert.deepEqual(kinds, ["inhale", "inhale", "inhale", "inhale", "exhale", "exhale", "exhale"]);
  assert.equal(phaseAt(p, plan, 2.5).cue, "In a little more");
  const scale = (t) => guideScale(p, phaseAt(p, plan, t));
  assert.ok(scale(0) < scale(1) && scale(1) < scale(2.5) && scale(2.5) <= 1);
  assert.ok(scale(3.5) > scale(6) && scale(8.9) < 0.05);
});

test("holds keep the circle where the previous phase left it", () => {
  const p = PATTERNS.box;
  const plan = planSession(p, 16);
  assert.equal(guideScale(p, phaseAt(p, plan, 6)), 1);
  assert.equal(guideScale(p, phaseAt(p, plan, 14)), 0);
});

test("custom pattern drops zero holds and clamps", () => {
  const p = customPattern({ inhale: 4, hold: 0, exhale: 50, holdOut: 2 });
  assert.deepEqual(p.phases.map((x) => [x.kind, x.seconds]), [["inhale", 4], ["exhale", 20], ["hold", 2]]);
  assert.equal(getPattern("custom", { inhale: 3, exhale: 3 }).phases.length, 2);
  assert.equal(getPattern("nope"), PATTERNS.resonance);
});

test("stats: sessions, minutes, streak", () => {
  let s = emptyStats();
  s = recordSession(s, 120, "2026-01-01");
  s = recordSession(s, 60, "2026-01-01");
  assert.equal(s.sessions, 2);
  assert.equal(s.minutes, 3);
  assert.equal(s.streakDays, 1);
  s = recordSession(s, 60, "2026-01-02");
  assert.equal(s.streakDays, 2);
  assert.equal(currentStreak(s, "2026-01-03"), 2);
  assert.equal(currentStreak(s, "2026-01-04"), 0);
  s = recordSession(s, 60, "2026-01-05");
  assert.equal(s.streakDays, 1);
  assert.equal(s.bestStreakDays, 2);
  assert.equal(daysBetween("2026-02-28", "2026-03-01"), 1);
});
