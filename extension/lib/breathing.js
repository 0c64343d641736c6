// Breathing patterns and their timing: pure, so node tests check the cues second by second.

/** A phase: `kind` drives the animation (inhale grows, exhale shrinks, holds stay). */
const P = (kind, seconds, cue) => Object.freeze({ kind, seconds, cue });

export const PATTERNS = Object.freeze({
  box: Object.freeze({
    label: "Box 4-4-4-4",
    phases: [P("inhale", 4, "Breathe in"), P("hold", 4, "Hold"), P("exhale", 4, "Breathe out"), P("hold", 4, "Hold")],
  }),
  "478": Object.freeze({
    label: "4-7-8",
    phases: [P("inhale", 4, "Breathe in"), P("hold", 7, "Hold"), P("exhale", 8, "Breathe out")],
  }),
  resonance: Object.freeze({
    label: "Resonance (about 6 breaths a minute)",
    phases: [P("inhale", 5.5, "Breathe in"), P("exhale", 5.5, "Breathe out")],
  }),
  sigh: Object.freeze({
    label: "Physiological sigh",
    // Two inhales through the nose (the second a short top-up), then a long, slow exhale.
    phases: [P("inhale", 2, "Breathe in"), P("inhale", 1, "In a little more"), P("exhale", 6, "Long breath out")],
  }),
});

/** Bounds for a custom pattern's phases, in seconds. */
export const CUSTOM_LIMITS = Object.freeze({ min: 0, max: 20 });

/**
 * Build the custom pattern from {inhale, hold, exhale, holdOut} seconds. Zero-length holds
 * are dropped; inhale and exhale need at least 1 s.
 */
export function customPattern({ inhale = 4, hold = 0, exhale = 6, holdOut = 0 } = {}) {
  const clamp = (v, lo) => Math.min(CUSTOM_LIMITS.max, Math.max(lo, Number(v) || 0));
  const phases = [P("inhale", clamp(inhale, 1), "Breathe in")];
  if (clamp(hold, 0) > 0) phases.push(P("hold", clamp(hold, 0), "Hold"));
  phases.push(P("exhale", clamp(exhale, 1), "Breathe out"));
  if (clamp(holdOut, 0) > 0) phases.push(P("hold", clamp(holdOut, 0), "Hold"));
  return { label: "Custom", phases };
}

/** Pattern by id; `custom` uses `custom` settings. Unknown ids fall back to resonance. */
export function getPattern(id, custom) {
  if (id === "custom") return customPattern(custom);
  return PATTERNS[id] || PATTERNS.resonance;
}

/** Seconds in one full cycle of the pattern. */
export function cycleSeconds(pattern) {
  return pattern.phases.reduce((s, p) => s + p.seconds, 0);
}

/**
 * Plan a session of about `lengthS` seconds: whole cycles only (never stop mid-breath),
 * at least one.
 */
export function planSession(pattern, lengthS) {
  const cycle = cycleSeconds(pattern);
  const cycles = Math.max(1, Math.round(lengthS / cycle));
  return { cycles, totalS: cycles * cycle, cycleS: cycle };
}

/**
 * Where a session is `elapsedS` seconds in: the phase, its cue, how far through it (0..1),
 * seconds left in the phase, the cycle index, and `done` once all cycles are over.
 */
export function phaseAt(pattern, plan, elapsedS) {
  if (elapsedS >= plan.totalS) {
    return { done: true, kind: "done", cue: "Well done", progress: 1, remainingS: 0, cycle: plan.cycles, phaseIndex: -1 };
  }
  const t = Math.max(0, elapsedS);
  const cycle = Math.floor(t / plan.cycleS);
  let within = t - cycle * plan.cycleS;
  for (let i = 0; i < pattern.phases.length; i++) {
    const ph = pattern.phases[i];
    if (within < ph.seconds || i === pattern.phases.length - 1) {
      return {
        done: false,
        kind: ph.kind,
        cue: ph.cue,
        phaseIndex: i,
        progress: Math.min(1, within / ph.seconds),
        remainingS: Math.max(0, ph.seconds - within),
        cycle,
      };
    }
    within -= ph.seconds;
  }
  throw new Error("unreachable");
}

/**
 * Size of the guide circle (0 = smallest, 1 = largest) at a point of the phase: grows on
 * inhale, shrinks on exhale, stays where the previous phase left it while holding.
 */
export function guideScale(pattern, info) {
  if (info.done) return 0;
  const eased = 0.5 - 0.5 * Math.cos(Math.PI * info.progress); // gentle in and out
  if (info.kind === "inhale") {
    // A top-up inhale (sigh) starts from where the first inhale ended.
    const prev = pattern.phases[info.phaseIndex - 1];
    const from = prev && prev.kind === "inhale" ? 0.8 : 0;
    const to = prev && prev.kind === "inhale" ? 1 : (pattern.phases[info.phaseIndex + 1]?.kind === "inhale" ? 0.8 : 1);
    return from + (to - from) * eased;
  }
  if (info.kind === "exhale") return 1 - eased;
  // hold: full after an inhale, empty after an exhale
  const prev = pattern.phases[(info.phaseIndex - 1 + pattern.phases.length) % pattern.phases.length];
  return prev.kind === "exhale" ? 0 : 1;
}
