// Options page: a form over chrome.storage.local "settings" (lib/settings.js).
import { mergeSettings, checkDaemonAddress, normalizeSite } from "./lib/settings.js";
import { checkDaemon } from "./lib/daemon.js";

const $ = (id) => document.getElementById(id);
/** Sites the manifest's content script already covers (no extra permission needed). */
const STATIC_SITES = ["youtube.com", "www.youtube.com", "music.youtube.com", "127.0.0.1", "localhost"];

function fill(s) {
  $("daemonAddress").value = s.daemonAddress;
  $("token").value = s.token || "";
  $("allowedSites").value = s.allowedSites.join("\n");
  const r = s.reminders;
  $("rem-enabled").checked = r.enabled;
  $("calmMinutes").value = r.calmMinutes;
  $("defaultSnoozeMinutes").value = String(r.defaultSnoozeMinutes);
  $("qh-enabled").checked = r.quietHours.enabled;
  $("qh-start").value = r.quietHours.start;
  $("qh-end").value = r.quietHours.end;
  $("dailyCap").value = r.dailyCap;
  $("minGapMinutes").value = r.minGapMinutes;
  const b = s.breathing;
  $("pattern").value = b.pattern;
  $("lengthMinutes").value = b.lengthMinutes;
  $("sound").checked = b.sound;
  for (const k of ["inhale", "hold", "exhale", "holdOut"]) $(`c-${k}`).value = b.custom[k];
}

function read(base) {
  const num = (id, fallback) => {
    const v = Number($(id).value);
    return Number.isFinite(v) ? v : fallback;
  };
  return mergeSettings({
    ...base,
    daemonAddress: $("daemonAddress").value.trim() || base.daemonAddress,
    token: $("token").value.trim(),
    allowedSites: [...new Set($("allowedSites").value.split(/[\n,]+/).map(normalizeSite).filter(Boolean))],
    reminders: {
      ...base.reminders,
      enabled: $("rem-enabled").checked,
      calmMinutes: Math.max(0.1, num("calmMinutes", base.reminders.calmMinutes)),
      defaultSnoozeMinutes: Number($("defaultSnoozeMinutes").value),
      quietHours: { enabled: $("qh-enabled").checked, start: $("qh-start").value || "22:00", end: $("qh-end").value || "07:00" },
      dailyCap: Math.max(0, Math.round(num("dailyCap", base.reminders.dailyCap))),
      minGapMinutes: Math.max(0, num("minGapMinutes", base.reminders.minGapMinutes)),
    },
    breathing: {
      pattern: $("pattern").value,
      lengthMinutes: Math.max(0.5, num("lengthMinutes", base.breathing.lengthMinutes)),
      sound: $("sound").checked,
      custom: Object.fromEntries(["inhale", "hold", "exhale", "holdOut"].map((k) => [k, num(`c-${k}`, base.breathing.custom[k])])),
    },
  });
}

/** Sites beyond the manifest's need a host permission and a dynamically registered script. */
async function syncExtraSites(sites) {
  const extra = sites.filter((s) => !STATIC_SITES.some((st) => s === st || s.endsWith("." + st)));
  const origins = extra.flatMap((s) => [`*://${s}/*`, `*://*.${s}/*`]);
  if (origins.length > 0) {
    const granted = await chrome.permissions.request({ origins }).catch(() => false);
    if (!granted) throw new Error(`Permission refused for ${extra.join(", ")}`);
  }
  await chrome.scripting.unregisterContentScripts({ ids: ["allowed-sites"] }).catch(() => {});
  if (origins.length > 0) {
    await chrome.scripting.registerContentScripts([{
      id: "allowed-sites", matches: origins, js: ["lib/pcm.js", "content.js"], runAt: "document_idle", persistAcrossSessions: true,
    }]);
  }
}

async function save(ev) {
  ev.preventDefault();
  const { settings: stored } = await chrome.storage.local.get("settings");
  const s = read(mergeSettings(stored));
  const err = checkDaemonAddress(s.daemonAddress);
  if (err) {
    $("saved").textContent = err;
    $("saved").className = "small bad";
    return;
  }
  try {
    await syncExtraSites(s.allowedSites);
  } catch (e) {
    $("saved").textContent = e.message;
    $("saved").className = "small bad";
    return;
  }
  await chrome.storage.local.set({ settings: s });
  $("saved").textContent = "Saved.";
  $("saved").className = "small ok";
}

/**
 * How long Test connection waits for the daemon's welcome. Not 3 s: Firefox delays a socket
 * to a port whose last sockets failed, 1.5 times longer per failure (see `daemonAnswers` in
 * lib/daemon.js). The daemon no longer fails a refused extension's upgrade (it closes the
 * socket with a token code), but sockets that failed while it was down still count.
 */
const TEST_TIMEOUT_MS = 10_000;

async function testConnection() {
  const addr = $("daemonAddress").value.trim();
  const err = checkDaemonAddress(addr);
  const out = $("test-result");
  if (err) {
    out.textContent = err;
    out.className = "small bad";
    return;
  }
  out.textContent = "Connecting…";
  out.className = "small";
  const { status, server, reason } = await checkDaemon(
    addr, $("token").value.trim(), TEST_TIMEOUT_MS,
  );
  if (status === "connected") {
    out.textContent = `Connected ${server}`.trim();
    out.className = "small ok";
  } else if (status === "unreachable") {
    out.textContent = `No daemon at ${addr}. Start it with: streamchill daemon`;
    out.className = "small bad";
  } else if (status === "refused") {
    out.textContent = `The daemon at ${addr} refused this extension: ${reason || "check the token (`streamchill token` prints it)"}`;
    out.className = "small bad";
  } else if (status === "closed") {
    // Not the token: the daemon says so when it is (a restart, or a daemon at its limits).
    out.textContent = `The daemon at ${addr} answers but closed the socket (${reason}): try again, or see its log`;
    out.className = "small bad";
  } else {
    // Not the token's fault: the socket never reached the daemon (it logs every refusal).
    out.textContent = `The daemon at ${addr} answers, but the browser opened no socket to it within ${TEST_TIMEOUT_MS / 1000} s (Firefox holds back sockets to a port after failed ones, up to a minute): try again shortly`;
    out.className = "small bad";
  }
}

$("form").addEventListener("submit", save);
$("test").addEventListener("click", testConnection);
chrome.storage.local.get("settings").then(({ settings }) => fill(mergeSettings(settings)));
