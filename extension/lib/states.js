// The daemon's mood states (analyzer/schema/events.schema.json) and how we show them.

export const STATES = Object.freeze({
  warming_up: { label: "Warming up", badge: "…", color: "#9a8c5a" },
  calm: { label: "Calm", badge: "calm", color: "#2f9e8f" },
  neutral: { label: "Neutral", badge: "mid", color: "#6b7a99" },
  aggressive: { label: "Aggressive", badge: "loud", color: "#c8553d" },
  silence: { label: "Silence", badge: "–", color: "#8a8f98" },
  speech: { label: "Speech", badge: "talk", color: "#7a5ea8" },
});

/** Display info for a state; unknown states (a newer daemon) show neutrally. */
export function describeState(state) {
  return STATES[state] || { label: String(state || "unknown"), badge: "?", color: "#8a8f98" };
}
