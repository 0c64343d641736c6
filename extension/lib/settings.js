// Settings kept in chrome.storage.local under "settings": defaults, merging and checks.
import { DEFAULT_REMINDER_SETTINGS } from "./reminders.js";

export const DEFAULT_DAEMON_ADDRESS = "127.0.0.1:8765";

export const DEFAULT_SETTINGS = Object.freeze({
  /** host:port of the local daemon. */
  daemonAddress: DEFAULT_DAEMON_ADDRESS,
  /** Pairing token; empty for the default setup (the daemon trusts this extension's id). */
  token: "",
  /** Sites where the content script captures the page's own <video>/<audio>. */
  allowedSites: ["youtube.com", "music.youtube.com"],
  reminders: DEFAULT_REMINDER_SETTINGS,
  breathing: { pattern: "resonance", lengthMinutes: 2, sound: false, custom: { inhale: 4, hold: 2, exhale: 6, holdOut: 0 } },
});

/** Merge stored settings over the defaults (one level deep for the nested groups). */
export function mergeSettings(stored) {
  const s = stored || {};
  return {
    ...DEFAULT_SETTINGS,
    ...s,
    reminders: { ...DEFAULT_SETTINGS.reminders, ...(s.reminders || {}),
      quietHours: { ...DEFAULT_SETTINGS.reminders.quietHours, ...((s.reminders || {}).quietHours || {}) } },
    breathing: { ...DEFAULT_SETTINGS.breathing, ...(s.breathing || {}),
      custom: { ...DEFAULT_SETTINGS.breathing.custom, ...((s.breathing || {}).custom || {}) } },
  };
}

/** "host:port" check; returns an error message or null. Only loopback hosts are allowed. */
export function checkDaemonAddress(addr) {
  const m = /^(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})$/.exec(String(addr || "").trim());
  if (!m) return "Use host:port on this machine, e.g. 127.0.0.1:8765";
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return "Port must be 1-65535";
  return null;
}

/** Normalize a site entry ("https://www.YouTube.com/watch" -> "www.youtube.com"). */
export function normalizeSite(entry) {
  let s = String(entry || "").trim().toLowerCase();
  if (!s) return "";
  s = s.replace(/^[a-z]+:\/\//, "").replace(/[/?#].*$/, "").replace(/:\d+$/, "");
  return s;
}

/** Whether `hostname` is covered by the allow-list (exact host or a subdomain of it). */
export function siteAllowed(allowedSites, hostname) {
  const h = String(hostname || "").toLowerCase();
  return (allowedSites || []).some((site) => {
    const s = normalizeSite(site);
    return s && (h === s || h.endsWith("." + s));
  });
}
