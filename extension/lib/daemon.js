// WebSocket clients for the local daemon (docs/protocol.md): one audio stream per
// capture on /v1/audio, one subscriber on /v1/events. Both reconnect by themselves
// with jittered exponential backoff, so a daemon restart costs a few seconds of audio
// and no clicks. Used by the offscreen document (the only place that outlives a popup
// and is not a service worker that Chrome may stop at any time).

/** First retry delay and cap, in ms. */
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 10_000;

/** Delay before retry number `attempt` (0-based): doubling, capped, with jitter 50-100 %. */
export function backoffDelayMs(attempt, rand = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling * (0.5 + 0.5 * rand()));
}

/** ws:// URL for a path on the daemon at `address` ("host:port"), with the token if set. */
export function daemonUrl(address, path, token, query = {}) {
  const params = new URLSearchParams(query);
  if (token) params.set("token", token);
  const qs = params.toString();
  return `ws://${address}${path}${qs ? "?" + qs : ""}`;
}

/**
 * One ingest stream. `send(bytes)` is fire-and-forget: while the socket is not ready the
 * audio is dropped (and counted), never queued — live mood is about now, not backlog.
 */
export class AudioStream {
  constructor({ config, stream, hello, onStatus = () => {}, onError = () => {} }) {
    this.config = config; // {address, token}
    this.stream = stream;
    this.hello = hello; // {sample_rate_hz, channels, sample_format, title?, url?}
    this.onStatus = onStatus;
    this.onError = onError;
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    /** Batches dropped because the daemon was not (yet) there. */
    this.droppedBatches = 0;
    /** Bytes of PCM delivered to the socket. */
    this.bytesSent = 0;
    this._connect();
  }

  _connect() {
    if (this.stopped) return;
    this.ready = false;
    const ws = new WebSocket(daemonUrl(this.config.address, "/v1/audio", this.config.token));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "hello", v: 1, stream: this.stream, ...this.hello }));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "ready") {
        this.ready = true;
        this.attempt = 0;
        this.onStatus({ status: "connected" });
      } else if (msg.type === "error") {
        this.onError(msg);
      }
    };
    ws.onclose = (ev) => {
      this.ready = false;
      if (this.ws !== ws || this.stopped) return;
      // 1008 (policy) after a bad hello or a refused origin will not fix itself quickly,
      // but a restarted daemon can: keep retrying, with the backoff as the brake.
      const delay = backoffDelayMs(this.attempt++);
      this.onStatus({ status: "unreachable", retryInMs: delay, code: ev.code });
      this.timer = setTimeout(() => this._connect(), delay);
    };
    ws.onerror = () => {}; // onclose follows and owns the retry
  }

  /** Send one batch of PCM bytes (binary frame, never base64 on the wire). */
  send(bytes) {
    if (!this.ready || this.ws.readyState !== WebSocket.OPEN) {
      this.droppedBatches++;
      return false;
    }
    // Bound the socket's own buffer too: 2 s of 16 kHz s16le is plenty of slack.
    if (this.ws.bufferedAmount > 64_000) {
      this.droppedBatches++;
      return false;
    }
    this.ws.send(bytes);
    this.bytesSent += bytes.byteLength;
    return true;
  }

  /** End the stream cleanly (`bye`), and stop reconnecting. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      try {
        ws.send(JSON.stringify({ type: "bye", v: 1 }));
      } catch {
        /* closing anyway */
      }
      ws.close(1000, "stopped");
    } else if (ws) {
      ws.close();
    }
  }
}

/**
 * The events subscriber. Remembers the last `seq` per stream so that after a reconnect
 * it asks for the replay (`subscribe` with `since`) and misses nothing the ring still holds.
 */
export class EventsClient {
  constructor({ config, onEvent, onStatus = () => {} }) {
    this.config = config;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.lastSeq = {};
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this._connect();
  }

  _connect() {
    if (this.stopped) return;
    const ws = new WebSocket(daemonUrl(this.config.address, "/v1/events", this.config.token));
    this.ws = ws;
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        this.attempt = 0;
        this.onStatus({ status: "connected", server: msg.server });
        if (Object.keys(this.lastSeq).length > 0) {
          ws.send(JSON.stringify({ type: "subscribe", v: 1, streams: null, since: this.lastSeq }));
        }
        return;
      }
      if (msg.type === "stream_start") delete this.lastSeq[msg.stream]; // seq restarts at 0
      if (msg.type === "mood") {
        const last = this.lastSeq[msg.stream];
        if (last != null && msg.seq <= last) return; // replayed twice (welcome state + since)
        this.lastSeq[msg.stream] = msg.seq;
      }
      this.onEvent(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.stopped) return;
      const delay = backoffDelayMs(this.attempt++);
      this.onStatus({ status: "unreachable", retryInMs: delay });
      this.timer = setTimeout(() => this._connect(), delay);
    };
    ws.onerror = () => {};
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "stopped");
  }
}
