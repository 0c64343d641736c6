// Breathing exercise page: an animated circle driven by lib/breathing.js timing, cue text
// per phase, an optional soft WebAudio tone, and local stats when a session finishes.
// URL parameters (used by the reminder and by tests): pattern, length_s, autostart=1.
import { getPattern, planSession, phaseAt, guideScale } from "./lib/breathing.js";
import { recordSession, currentStreak, emptyStats } from "./lib/stats.js";
import { localClock } from "./lib/reminders.js";
import { mergeSettings } from "./lib/settings.js";

const $ = (id) => document.getElementById(id);
const MIN_SCALE = 0.35;

let settings = mergeSettings(null);
let run = null; // {pattern, plan, startMs, raf, lastPhaseKey, audio}

function show(id) {
  for (const s of ["setup", "session", "finish"]) $(s).classList.toggle("hidden", s !== id);
}

function customFromForm() {
  return Object.fromEntries(["inhale", "hold", "exhale", "holdOut"].map((k) => [k, Number($(`c-${k}`).value)]));
}

// A soft sine with a slow envelope: rising for inhale, falling for exhale, low for hold.
function tone(audio, kind, seconds) {
  if (!audio) return;
  const t0 = audio.currentTime;
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  const f = { inhale: [220, 330], exhale: [330, 220], hold: [196, 196] }[kind] || [220, 220];
  const len = Math.min(1.2, seconds);
  osc.type = "sine";
  osc.frequency.setValueAtTime(f[0], t0);
  osc.frequency.linearRampToValueAtTime(f[1], t0 + len);
  gain.gain.setValueAtTime(0, t0);
  gain.gain.linearRampToValueAtTime(0.05, t0 + 0.25);
  gain.gain.linearRampToValueAtTime(0, t0 + len);
  osc.connect(gain).connect(audio.destination);
  osc.start(t0);
  osc.stop(t0 + len + 0.05);
}

function frame() {
  const elapsedS = (performance.now() - run.startMs) / 1000;
  const info = phaseAt(run.pattern, run.plan, elapsedS);
  if (info.done) return finish();
  const scale = MIN_SCALE + (1 - MIN_SCALE) * guideScale(run.pattern, info);
  $("circle").style.transform = `scale(${scale.toFixed(4)})`;
  const key = `${info.cycle}:${info.phaseIndex}`;
  if (key !== run.lastPhaseKey) {
    run.lastPhaseKey = key;
    $("cue").textContent = info.cue;
    $("cue").dataset.phase = info.kind;
    tone(run.audio, info.kind, run.pattern.phases[info.phaseIndex].seconds);
  }
  $("count").textContent = Math.ceil(info.remainingS);
  $("progress").textContent = `breath ${info.cycle + 1} of ${run.plan.cycles}`;
  run.raf = requestAnimationFrame(frame);
}

function start({ patternId, lengthS, sound }) {
  const pattern = getPattern(patternId, patternId === "custom" ? customFromForm() : settings.breathing.custom);
  const plan = planSession(pattern, lengthS);
  let audio = null;
  if (sound) {
    audio = new AudioContext();
    audio.resume().catch(() => {});
  }
  run = { pattern, plan, startMs: performance.now(), raf: 0, lastPhaseKey: null, audio, patternId };
  document.body.dataset.running = "1";
  show("session");
  run.raf = requestAnimationFrame(frame);
}

async function finish() {
  const r = run;
  run = null;
  cancelAnimationFrame(r.raf);
  if (r.audio) r.audio.close();
  const { dayKey } = localClock(new Date());
  const { stats } = await chrome.storage.local.get("stats");
  const next = recordSession(stats || emptyStats(), r.plan.totalS, dayKey);
  await chrome.storage.local.set({ stats: next });
  document.body.dataset.running = "";
  document.body.dataset.finished = "1";
  showStats(next, $("finish-stats"));
  show("finish");
}

function showStats(stats, el) {
  const { dayKey } = localClock(new Date());
  const s = stats || emptyStats();
  const streak = currentStreak(s, dayKey);
  el.textContent = s.sessions
    ? `${s.sessions} session${s.sessions === 1 ? "" : "s"} · ${Math.round(s.minutes)} min in all · ${streak}-day streak`
    : "Your first session.";
}

function startFromForm() {
  start({ patternId: $("pattern").value, lengthS: Number($("length").value), sound: $("sound").checked });
}

$("pattern").addEventListener("change", () => $("custom").classList.toggle("hidden", $("pattern").value !== "custom"));
$("start").addEventListener("click", startFromForm);
$("again").addEventListener("click", () => show("setup"));
$("close").addEventListener("click", () => window.close());
$("stop").addEventListener("click", () => {
  if (!run) return;
  cancelAnimationFrame(run.raf);
  if (run.audio) run.audio.close();
  run = null; // an unfinished session is not counted
  document.body.dataset.running = "";
  show("setup");
});

(async () => {
  const [{ settings: s }, { stats }] = await Promise.all([
    chrome.storage.local.get("settings"), chrome.storage.local.get("stats"),
  ]);
  settings = mergeSettings(s);
  const b = settings.breathing;
  const q = new URLSearchParams(location.search);
  $("pattern").value = q.get("pattern") || b.pattern;
  $("custom").classList.toggle("hidden", $("pattern").value !== "custom");
  for (const k of ["inhale", "hold", "exhale", "holdOut"]) $(`c-${k}`).value = b.custom[k];
  const lengthS = Number(q.get("length_s")) || Math.round(b.lengthMinutes * 60);
  const opt = [...$("length").options].find((o) => Number(o.value) === lengthS);
  if (!opt) $("length").add(new Option(`${Math.round((lengthS / 60) * 10) / 10} minutes`, String(lengthS), true, true));
  $("length").value = String(lengthS);
  $("sound").checked = b.sound;
  showStats(stats, $("stats-line"));
  if (q.get("autostart") === "1") startFromForm();
})();
