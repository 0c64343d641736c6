// Downsampling and batching (extension/lib/pcm.js) and the daemon client helpers.
import { test } from "node:test";
import assert from "node:assert/strict";
import "../../extension/lib/pcm.js";
import { backoffDelayMs, daemonUrl, BACKOFF_MAX_MS } from "../../extension/lib/daemon.js";
import { siteAllowed, normalizeSite, checkDaemonAddress, mergeSettings } from "../../extension/lib/settings.js";

const { Resampler, PcmPipeline, floatToS16, bytesToBase64, base64ToBytes, pcmBytesFromPort } = globalThis.StreamChillPCM;

function sine(freqHz, rateHz, seconds, amp = 0.5) {
  const n = Math.round(rateHz * seconds);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / rateHz);
  return x;
}

function rms(x, from = 0) {
  let s = 0;
  for (let i = from; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / (x.length - from));
}

function runChunked(inRate, x, chunk) {
  const r = new Resampler(inRate, 16000);
  const parts = [];
  for (let i = 0; i < x.length; i += chunk) parts.push(r.process(x.subarray(i, i + chunk)));
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

for (const inRate of [48000, 44100]) {
  test(`${inRate} Hz -> 16 kHz: rate, passband, stopband`, () => {
    const pass = runChunked(inRate, sine(1000, inRate, 1), 128);
    assert.ok(Math.abs(pass.length - 16000) < 40, `got ${pass.length} samples`);
    assert.ok(Math.abs(rms(pass, 200) - 0.5 / Math.SQRT2) < 0.01, "1 kHz passes at unity");
    // 12 kHz would alias to 4 kHz without a low-pass; it must be strongly attenuated.
    const stop = runChunked(inRate, sine(12000, inRate, 1), 128);
    assert.ok(rms(stop, 200) < 0.005, `12 kHz leaks: ${rms(stop, 200)}`);
  });

  test(`${inRate} Hz: the same output whatever the chunking`, () => {
    const x = sine(440, inRate, 0.5);
    const a = runChunked(inRate, x, 128);
    for (const chunk of [1, 17, 1000, x.length]) {
      const b = runChunked(inRate, x, chunk);
      assert.equal(b.length, a.length);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6);
    }
  });
}

test("DC passes with unit gain", () => {
  const out = runChunked(48000, new Float32Array(48000).fill(0.25), 128);
  assert.ok(Math.abs(out[out.length - 1] - 0.25) < 1e-6);
});

test("pipeline: stereo in, 100 ms s16 mono batches out, peak reported", () => {
  const batches = [];
  const p = new PcmPipeline(48000, (pcm, peak) => batches.push([pcm, peak]));
  const left = sine(500, 48000, 1);
  for (let i = 0; i < left.length; i += 128) p.push([left.subarray(i, i + 128), left.subarray(i, i + 128)]);
  assert.ok(batches.length >= 9 && batches.length <= 10);
  for (const [pcm, peak] of batches) {
    assert.ok(pcm instanceof Int16Array);
    assert.equal(pcm.length, 1600);
    assert.ok(peak <= 0.51);
  }
  assert.ok(batches[5][1] > 0.45);
});

test("s16 conversion clips and base64 round-trips", () => {
  assert.deepEqual([...floatToS16(new Float32Array([0, 1, -1, 2, -2, 0.5]))], [0, 32767, -32768, 32767, -32768, 16384]);
  const bytes = new Uint8Array([0, 1, 2, 250, 255, 128]);
  assert.deepEqual([...base64ToBytes(bytesToBase64(bytes))], [...bytes]);
});

test("the polyphase path gives the per-tap kernel's output, for 44.1 and 48 kHz", () => {
  for (const rate of [44100, 48000]) {
    const fast = new Resampler(rate);
    assert.ok(fast.poly, `polyphase table for ${rate} Hz`);
    const slow = new Resampler(rate);
    slow.poly = null; // the general path, as for a non-integer rate
    const x = sine(1000, rate, 0.5);
    const a = [];
    const b = [];
    for (let i = 0; i < x.length; i += 128) {
      a.push(...fast.process(x.subarray(i, i + 128)));
      b.push(...slow.process(x.subarray(i, i + 128)));
    }
    assert.equal(a.length, b.length);
    assert.ok(Math.abs(a.length - 8000) <= 24, `${a.length} samples`);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-4, `${rate} Hz, sample ${i}: ${a[i]} vs ${b[i]}`);
  }
});

test("PCM from a runtime port: typed array, ArrayBuffer or base64, never a flattened object", () => {
  const pcm = new Int16Array([1, -2, 300]);
  const bytes = [...new Uint8Array(pcm.buffer)];
  assert.deepEqual([...pcmBytesFromPort(pcm)], bytes);
  assert.deepEqual([...pcmBytesFromPort(pcm.buffer)], bytes);
  assert.deepEqual([...pcmBytesFromPort(bytesToBase64(new Uint8Array(pcm.buffer)))], bytes);
  // A view into a larger buffer gives only its own bytes.
  assert.deepEqual([...pcmBytesFromPort(new Int16Array([9, 1, -2, 300, 9]).subarray(1, 4))], bytes);
  // What JSON messaging makes of a typed array: refused, not sent as garbage.
  assert.equal(pcmBytesFromPort(JSON.parse(JSON.stringify(pcm))), null);
  assert.equal(pcmBytesFromPort(undefined), null);
});

test("backoff doubles, is capped and jittered", () => {
  assert.equal(backoffDelayMs(0, () => 1), 500);
  assert.equal(backoffDelayMs(3, () => 1), 4000);
  assert.equal(backoffDelayMs(30, () => 1), BACKOFF_MAX_MS);
  assert.equal(backoffDelayMs(30, () => 0), BACKOFF_MAX_MS / 2);
});

test("daemon URL and settings helpers", () => {
  assert.equal(daemonUrl("127.0.0.1:8765", "/v1/audio", ""), "ws://127.0.0.1:8765/v1/audio");
  assert.equal(daemonUrl("localhost:9", "/v1/events", "a b"), "ws://localhost:9/v1/events?token=a+b");
  assert.equal(checkDaemonAddress("127.0.0.1:8765"), null);
  assert.notEqual(checkDaemonAddress("example.com:8765"), null);
  assert.equal(normalizeSite("https://www.YouTube.com/watch?v=1"), "www.youtube.com");
  assert.equal(siteAllowed(["youtube.com"], "www.youtube.com"), true);
  assert.equal(siteAllowed(["youtube.com"], "notyoutube.com"), false);
  assert.equal(siteAllowed(["127.0.0.1"], "127.0.0.1"), true);
  const s = mergeSettings({ reminders: { calmMinutes: 0.2 } });
  assert.equal(s.reminders.calmMinutes, 0.2);
  assert.equal(s.reminders.dailyCap, 3);
  assert.equal(s.daemonAddress, "127.0.0.1:8765");
});
