// The engine: the offscreen document owns everything that must live longer than a popup
// and that a service worker may not hold — the tab-capture audio graph, the sockets to
// the daemon, the PCM relays from content scripts. It only has chrome.runtime, so it
// gets its configuration from the service worker and reports back with messages.
import { AudioStream, EventsClient } from "./lib/daemon.js";
import "./lib/pcm.js";

const { pcmBytesFromPort, TARGET_RATE_HZ } = globalThis.StreamChillPCM;

/** Format of every stream we send: the worklet already made it 16 kHz mono s16le. */
const HELLO_FORMAT = { sample_rate_hz: TARGET_RATE_HZ, channels: 1, sample_format: "s16le" };

let config = null; // {address, token}
let markConfigured;
/** Resolves once the service worker has sent the first configuration. */
const configured = new Promise((resolve) => (markConfigured = resolve));
let events = null;
/** stream id -> {audio: AudioStream, kind, tabId, teardown()} */
const streams = new Map();

function toBackground(type, data) {
  chrome.runtime.sendMessage({ type, target: "background", data }).catch(() => {
    // The service worker is being restarted; the next message will wake it.
  });
}

/** One batch of a stream's PCM to the daemon; it also runs the subscriber's overdue retry
 * (`ReconnectingSocket.kick`: audio arrives whether or not timers fire). */
function deliver(entry, bytes) {
  entry.audio.send(bytes);
  if (events) events.kick();
}

function reportStatus(kind, status) {
  toBackground("daemon-status", { ...status, via: kind, address: config && config.address });
}

function startEvents() {
  if (events) events.stop();
  events = new EventsClient({
    config,
    onEvent: (msg) => {
      if (msg.type === "mood" || msg.type === "stream_start" || msg.type === "stream_end") {
        if (msg.type === "mood" && !streams.has(msg.stream)) return; // not one of ours
        toBackground(msg.type, msg);
      }
    },
    onStatus: (st) => reportStatus("events", st),
  });
}

function openStream(stream, { kind, tabId, title, url, capture }) {
  closeStream(stream);
  const audio = new AudioStream({
    config,
    stream,
    hello: { ...HELLO_FORMAT, title: title || undefined, url: url || undefined },
    onStatus: (st) => reportStatus("audio", { ...st, stream }),
    onError: (err) => toBackground("stream-error", { stream, error: err }),
  });
  const entry = { audio, kind, tabId, teardown: () => {} };
  streams.set(stream, entry);
  toBackground("stream-open", { stream, kind, tabId, title, url, capture });
  return entry;
}

function closeStream(stream, reason = "stopped") {
  const entry = streams.get(stream);
  if (!entry) return;
  streams.delete(stream);
  entry.audio.stop();
  try {
    entry.teardown();
  } catch (e) {
    console.warn("teardown failed", e);
  }
  toBackground("stream-close", { stream, tabId: entry.tabId, kind: entry.kind, reason });
}

// --- Tab capture: the stream id comes from chrome.tabCapture.getMediaStreamId (popup) ---

async function captureTab({ mediaStreamId, tabId, title, url }) {
  const stream = `tabcap-${tabId}`;
  const media = await navigator.mediaDevices.getUserMedia({
    audio: { mandatory: { chromeMediaSource: "tab", chromeMediaSourceId: mediaStreamId } },
    video: false,
  });
  // From here on the tab is captured, and Chrome keeps it muted while any track lives:
  // whatever fails below must stop the tracks (which unmutes the tab) before it reports.
  let ctx = null;
  try {
    ctx = new AudioContext(); // device rate; the worklet does the downsampling
    const source = ctx.createMediaStreamSource(media);
    // Capturing a tab mutes it; route it back out first, so the user keeps hearing it
    // even while the worklet loads.
    source.connect(ctx.destination);
    await ctx.audioWorklet.addModule(chrome.runtime.getURL("worklet/pcm-worklet.js"));
    const node = new AudioWorkletNode(ctx, "streamchill-pcm", { numberOfOutputs: 1 });
    const sink = ctx.createGain();
    sink.gain.value = 0; // keeps the worklet pulled by the graph without doubling the audio
    source.connect(node).connect(sink).connect(ctx.destination);
    const entry = openStream(stream, {
      kind: "tab", tabId, title, url,
      capture: { converter: "worklet", input_rate_hz: ctx.sampleRate, tap: "tabCapture" },
    });
    node.port.onmessage = (ev) => {
      if (ev.data && ev.data.type === "pcm") deliver(entry, ev.data.pcm);
    };
    const audioCtx = ctx;
    entry.teardown = () => {
      node.port.postMessage({ type: "stop" });
      releaseCapture(media, audioCtx);
    };
  } catch (e) {
    releaseCapture(media, ctx);
    throw new Error(`tab capture started but could not be processed, so it was stopped (${e && e.message ? e.message : e})`);
  }
  // The tab closed or navigated away from capture: the track ends.
  media.getAudioTracks()[0].addEventListener("ended", () => closeStream(stream, "ended"));
  return { stream };
}

/** Stop every track of a tab capture (Chrome unmutes the tab) and close its context. */
function releaseCapture(media, ctx) {
  media.getTracks().forEach((t) => t.stop());
  if (ctx && ctx.state !== "closed") ctx.close().catch(() => {});
}

// --- Element capture: content scripts relay their PCM over a runtime Port ---

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== "pcm" || !port.sender || !port.sender.tab) return;
  const tabId = port.sender.tab.id;
  const stream = `tab-${tabId}`;
  let entry = null;
  port.onMessage.addListener(async (msg) => {
    if (msg.type === "hello") {
      // Did the probe arrive as a typed array? Then the content script may send binary.
      const binary = msg.data.probe instanceof Uint8Array;
      port.postMessage({ type: "format", binary });
      await configured;
      entry = openStream(stream, {
        kind: "element", tabId, title: msg.data.title, url: msg.data.url,
        capture: { ...msg.data.capture, port: binary ? "typed-array" : "base64" },
      });
    } else if (msg.type === "pcm" && entry) {
      const bytes = pcmBytesFromPort(msg.data);
      if (bytes) deliver(entry, bytes);
    }
  });
  port.onDisconnect.addListener(() => {
    if (entry && streams.get(stream) === entry) closeStream(stream, "page closed");
  });
});

// --- Messages from the service worker ---

chrome.runtime.onMessage.addListener((msg, _sender, sendResponse) => {
  if (msg.target !== "offscreen") return false;
  switch (msg.type) {
    case "config": {
      const changed = !config || config.address !== msg.data.address || config.token !== msg.data.token;
      config = msg.data;
      markConfigured();
      if (changed) {
        startEvents();
        // Reopen live streams against the new address, keeping their capture running.
        for (const [id, entry] of streams) {
          entry.audio.stop();
          entry.audio = new AudioStream({
            config, stream: id, hello: entry.audio.hello,
            onStatus: (st) => reportStatus("audio", { ...st, stream: id }),
            onError: (err) => toBackground("stream-error", { stream: id, error: err }),
          });
        }
      }
      sendResponse({ ok: true });
      return false;
    }
    case "capture-tab":
      captureTab(msg.data).then(
        (r) => sendResponse({ ok: true, ...r }),
        (e) => sendResponse({ ok: false, error: String(e && e.message ? e.message : e) }),
      );
      return true;
    case "stop-stream":
      closeStream(msg.data.stream);
      sendResponse({ ok: true });
      return false;
    case "list-streams":
      sendResponse({
        streams: [...streams.entries()].map(([id, e]) => ({
          stream: id, kind: e.kind, tabId: e.tabId, bytesSent: e.audio.bytesSent,
          droppedBatches: e.audio.droppedBatches, ready: e.audio.ready,
        })),
      });
      return false;
    default:
      return false;
  }
});

// Ask the service worker for our configuration; it answers with a `config` message.
toBackground("engine-ready", {});
