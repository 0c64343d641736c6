// Content script on allowed sites: taps the page's own <video>/<audio> element, converts
// it to 16 kHz mono PCM (lib/pcm.js, loaded before this file) and relays it over a
// runtime Port to the engine, which streams it to the daemon. It also reports whether a
// video is fullscreen, so no reminder pops up over a film.
//
// Tap order: element.captureStream() first (it leaves the page's playback path alone),
// createMediaElementSource() where captureStream is missing. Never Firefox's old
// mozCaptureStream(): it mutes the element while captured (Firefox has captureStream now). Cross-origin media without
// CORS and DRM (EME) media come through as digital silence or an exception; we then tell
// the popup, which offers tab capture instead.
(() => {
  "use strict";
  if (globalThis.__streamChillContent) return; // injected twice (dynamic + static)
  globalThis.__streamChillContent = true;

  const { PcmPipeline, bytesToBase64, TARGET_RATE_HZ } = globalThis.StreamChillPCM;
  /** A one-byte typed array in the hello: the engine answers whether it arrived as one. */
  const BINARY_PROBE = new Uint8Array([1]);
  /** Consecutive all-zero 100 ms batches while playing before we call the tap silent. */
  const SILENT_BATCHES = 40;

  let allowed = false;
  let userStopped = false;
  let tap = null; // {el, ctx, port, binary, info, teardown}
  let silentRun = 0;
  let reportedSilent = false;

  // Same rule as lib/settings.js siteAllowed (content scripts are not modules).
  function siteAllowed(sites, hostname) {
    const h = hostname.toLowerCase();
    return (sites || ["youtube.com", "music.youtube.com"]).some((site) => {
      const s = String(site || "").trim().toLowerCase()
        .replace(/^[a-z]+:\/\//, "").replace(/[/?#].*$/, "").replace(/:\d+$/, "");
      return s && (h === s || h.endsWith("." + s));
    });
  }

  function send(type, data) {
    return chrome.runtime.sendMessage({ type, target: "background", data }).catch(() => null);
  }

  function playingElement() {
    const els = [...document.querySelectorAll("video, audio")];
    return els.find((e) => !e.paused && !e.ended && e.readyState > 2) || null;
  }

  /**
   * createMediaElementSource may be called only once per element, and from then on the
   * element plays only through that graph. So the graph outlives any tap: one context and
   * source per element, kept for the element's life and reused by every later tap.
   */
  const elementGraphs = new WeakMap(); // el -> {ctx, source}

  function elementSource(el) {
    let graph = elementGraphs.get(el);
    if (!graph) {
      const ctx = new AudioContext();
      const source = ctx.createMediaElementSource(el);
      source.connect(ctx.destination); // the element now plays through us: keep it audible
      graph = { ctx, source };
      elementGraphs.set(el, graph);
    }
    return graph;
  }

  async function makeGraph(el) {
    let ctx;
    let source;
    let stream = null;
    if (typeof el.captureStream === "function") {
      stream = el.captureStream();
      if (stream.getAudioTracks().length === 0) {
        await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("no audio track")), 5000);
          stream.addEventListener("addtrack", () => { clearTimeout(t); resolve(); }, { once: true });
        });
      }
      ctx = new AudioContext();
      source = ctx.createMediaStreamSource(stream);
    } else {
      ({ ctx, source } = elementSource(el));
    }
    const onBatch = (pcm, peak) => onPcm(pcm, peak);
    let node;
    let converter = "worklet";
    try {
      await ctx.audioWorklet.addModule(chrome.runtime.getURL("worklet/pcm-worklet.js"));
      node = new AudioWorkletNode(ctx, "streamchill-pcm");
      node.port.onmessage = (ev) => {
        if (ev.data && ev.data.type === "pcm") onBatch(new Int16Array(ev.data.pcm), ev.data.peak);
      };
    } catch (e) {
      // The page's CSP or a site outside web_accessible_resources can refuse the worklet;
      // a ScriptProcessor runs the same pipeline on the main thread instead.
      converter = "script-processor";
      const pipeline = new PcmPipeline(ctx.sampleRate, onBatch);
      node = ctx.createScriptProcessor(4096, 2, 2);
      node.onaudioprocess = (ev) => {
        const b = ev.inputBuffer;
        const chans = [];
        for (let c = 0; c < b.numberOfChannels; c++) chans.push(b.getChannelData(c));
        pipeline.push(chans);
      };
    }
    const mute = ctx.createGain();
    mute.gain.value = 0; // pulls the converter without playing anything twice
    source.connect(node).connect(mute).connect(ctx.destination);
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    // YouTube swaps the source under the same element: rebuild on a new track.
    if (stream) {
      // Tap the added track itself: when the old track is removed only after the new one
      // is added, a source made from the whole stream would keep the old, ended track.
      stream.addEventListener("addtrack", (ev) => {
        if (!ev.track || ev.track.kind !== "audio") return;
        try { source.disconnect(); } catch { /* already */ }
        source = ctx.createMediaStreamSource(new MediaStream([ev.track]));
        source.connect(node);
      });
    }
    return {
      ctx,
      info: { converter, input_rate_hz: ctx.sampleRate, tap: stream ? "captureStream" : "mediaElementSource" },
      teardown: () => {
        if (node.port) node.port.postMessage({ type: "stop" });
        else node.onaudioprocess = null;
        // Cut only our branch: a bare disconnect() would also cut an element source's link
        // to the speakers and silence the page.
        try { source.disconnect(node); } catch { /* gone */ }
        try { mute.disconnect(); } catch { /* gone */ }
        // The element's own graph stays (see elementSource); captureStream contexts go.
        if (stream) ctx.close();
      },
    };
  }

  function onPcm(pcm, peak) {
    if (!tap || !tap.port) return;
    const el = tap.el;
    if (peak === 0 && !el.paused && !el.muted && el.volume > 0) {
      silentRun++;
      if (silentRun >= SILENT_BATCHES && !reportedSilent) {
        reportedSilent = true;
        send("tap-silent", { reason: "The page's player gives the extension only silence (cross-origin or protected media)." });
      }
    } else if (peak > 0) {
      silentRun = 0;
    }
    try {
      // Binary where the engine said typed arrays arrive intact (structured-clone
      // messaging); base64 text only on browsers whose messaging is still JSON.
      const data = tap.binary ? pcm : bytesToBase64(new Uint8Array(pcm.buffer));
      tap.port.postMessage({ type: "pcm", data });
    } catch {
      // Port gone (engine restarted): reconnect on the next tick.
      tap.port = null;
      setTimeout(connectPort, 1000);
    }
  }

  async function connectPort() {
    if (!tap || tap.port) return;
    const ok = await send("ensure-engine", {});
    if (!ok || !tap || tap.port) return;
    const port = chrome.runtime.connect({ name: "pcm" });
    tap.port = port;
    tap.binary = false;
    const owner = tap;
    port.onMessage.addListener((msg) => {
      if (msg && msg.type === "format" && tap === owner) owner.binary = !!msg.binary;
    });
    port.postMessage({
      type: "hello",
      data: {
        sample_rate_hz: TARGET_RATE_HZ, channels: 1, sample_format: "s16le",
        title: document.title, url: location.href, capture: tap.info, probe: BINARY_PROBE,
      },
    });
    port.onDisconnect.addListener(() => {
      if (tap && tap.port === port) {
        tap.port = null;
        setTimeout(connectPort, 2000); // the engine went away; it comes back on demand
      }
    });
  }

  async function startTap(el) {
    if (!allowed || userStopped || !el) return;
    if (tap && tap.el === el) return;
    stopTap();
    const pending = { el, port: null, binary: false, teardown: () => {} };
    tap = pending;
    try {
      const graph = await makeGraph(el);
      if (tap !== pending) { graph.teardown(); return; }
      pending.ctx = graph.ctx;
      pending.info = graph.info;
      pending.teardown = graph.teardown;
    } catch (e) {
      if (tap === pending) tap = null;
      const why = e && e.name === "SecurityError"
        ? "This page plays media from another site, which extensions may not listen to."
        : `The page's player cannot be tapped (${e && e.name ? e.name : e}).`;
      send("tap-silent", { reason: why, error: e && e.name ? e.name : String(e) });
      return;
    }
    silentRun = 0;
    reportedSilent = false;
    await connectPort();
  }

  function stopTap() {
    if (!tap) return;
    const t = tap;
    tap = null;
    if (t.port) t.port.disconnect();
    t.teardown();
  }

  // Media elements do not bubble "play"; listen in the capture phase on the document.
  document.addEventListener("playing", (ev) => {
    const el = ev.target;
    if (el instanceof HTMLMediaElement) startTap(el);
    if (tap && tap.ctx && tap.ctx.state === "suspended") tap.ctx.resume().catch(() => {});
  }, true);
  for (const type of ["click", "keydown"]) {
    document.addEventListener(type, () => {
      if (tap && tap.ctx && tap.ctx.state === "suspended") tap.ctx.resume().catch(() => {});
    }, true);
  }

  document.addEventListener("fullscreenchange", () => {
    send("fullscreen", { fullscreen: !!document.fullscreenElement });
  });

  chrome.runtime.onMessage.addListener((msg, _sender, sendResponse) => {
    if (!msg || msg.target !== "content") return false;
    if (msg.type === "stop-tap") {
      userStopped = true;
      stopTap();
      sendResponse({ ok: true });
    } else if (msg.type === "start-tap") {
      userStopped = false;
      const el = playingElement() || document.querySelector("video, audio");
      if (!allowed) sendResponse({ ok: false, error: "site not in the allow-list" });
      else if (!el) sendResponse({ ok: false, error: "no <video> or <audio> on this page" });
      else { startTap(el); sendResponse({ ok: true }); }
    } else if (msg.type === "status") {
      sendResponse({ allowed, hasMedia: !!document.querySelector("video, audio"), tapping: !!tap, userStopped });
    }
    return false;
  });

  async function refreshAllowed() {
    const { settings } = await chrome.storage.local.get("settings");
    allowed = siteAllowed(settings && settings.allowedSites, location.hostname);
    if (!allowed) stopTap();
    else startTap(playingElement());
  }

  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && changes.settings) refreshAllowed();
  });
  refreshAllowed();
})();
