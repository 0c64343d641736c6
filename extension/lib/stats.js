// Local breathing statistics (sessions, minutes, streak): pure, stored by the caller in
// chrome.storage.local under "stats". Nothing here ever leaves the machine.

export function emptyStats() {
  return {
    /** Finished sessions, all time. */
    sessions: 0,
    /** Minutes breathed, all time (fractional). */
    minutes: 0,
    /** Consecutive local days, ending at `lastDay`, with at least one session. */
    streakDays: 0,
    /** Longest streak ever, in days. */
    bestStreakDays: 0,
    /** Local day ("YYYY-MM-DD") of the last session, or null. */
    lastDay: null,
  };
}

/** Whole days from day key `a` to day key `b` (both "YYYY-MM-DD", local calendar). */
export function daysBetween(a, b) {
  const toUtc = (k) => {
    const [y, m, d] = k.split("-").map(Number);
    return Date.UTC(y, m - 1, d);
  };
  return Math.round((toUtc(b) - toUtc(a)) / 86_400_000);
}

/** Add one finished session of `seconds` on local day `dayKey`. */
export function recordSession(stats, seconds, dayKey) {
  const s = { ...emptyStats(), ...stats };
  let streak = s.streakDays;
  if (s.lastDay == null) streak = 1;
  else {
    const gap = daysBetween(s.lastDay, dayKey);
    if (gap === 1) streak += 1;
    else if (gap > 1 || gap < 0) streak = 1; // a missed day (or a clock set back) restarts it
    // gap === 0: same day, streak unchanged
  }
  return {
    sessions: s.sessions + 1,
    minutes: Math.round((s.minutes + seconds / 60) * 100) / 100,
    streakDays: streak,
    bestStreakDays: Math.max(s.bestStreakDays, streak),
    lastDay: dayKey,
  };
}

/** The streak as seen on `todayKey`: it lapses when yesterday had no session. */
export function currentStreak(stats, todayKey) {
  if (!stats || stats.lastDay == null) return 0;
  return daysBetween(stats.lastDay, todayKey) <= 1 ? stats.streakDays : 0;
}
