// WebSocket clients for the local daemon (docs/protocol.md): one audio stream per
// capture on /v1/audio, one subscriber on /v1/events. Both reconnect by themselves with
// jittered exponential backoff, asking `/healthz` before they open a socket again (see
// `daemonAnswers`), so a daemon restart costs a few seconds of audio and no clicks. Used by
// the offscreen document (the only place that outlives a popup and is not a service worker
// that Chrome may stop at any time).

/** First retry delay and cap, in ms. */
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 10_000;
/** How long a reachability probe may take before the daemon counts as not there, in ms. */
export const PROBE_TIMEOUT_MS = 2_000;
/** How far past due a retry (or a probe past its timeout) may be before `kick()` runs it. */
export const KICK_SLACK_MS = 1_000;

/**
 * Close codes the daemon refuses this extension with, right after the handshake, when it
 * does not know its origin (Firefox's per-install `moz-extension://` uuid) and the token is
 * missing (4401) or wrong (4403): docs/protocol.md. A refused upgrade's HTTP status is not
 * visible to a script, so this is the one way to tell a refusal from a daemon restarting.
 */
export const CLOSE_MISSING_TOKEN = 4401;
export const CLOSE_WRONG_TOKEN = 4403;

/** Whether a close event is the daemon refusing the token. */
export function refusedToken(ev) {
  return !!ev && (ev.code === CLOSE_MISSING_TOKEN || ev.code === CLOSE_WRONG_TOKEN);
}

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
 * Whether the daemon answers plain HTTP at `address` (`GET /healthz`, no token needed).
 *
 * Why the clients ask this before they open a socket again: Firefox delays a WebSocket to a
 * host:port whose last connections failed (RFC 6455 §7.2.3), 1.5 times longer per failure up
 * to a minute — measured on Firefox ESR 153, 14 failed sockets in a row took 0.03 s, 0.3 s,
 * … 28 s, 42 s to fail — and the delay does not end when the daemon comes back. Retrying with
 * sockets, a tab could wait up to a minute for a daemon restarted after a long outage. A
 * fetch is not counted, and
 * `no-cors` because any answer at all (even an opaque or a refused one) means someone listens.
 */
export async function daemonAnswers(address, fetchImpl = globalThis.fetch) {
  try {
    await fetchImpl(`http://${address}/healthz`, {
      mode: "no-cors",
      cache: "no-store",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the daemon at `address` takes this extension, for the popup and the options page:
 * `/healthz` first (a failed socket would make Firefox delay the engine's next ones, see
 * `daemonAnswers`), then an events socket, opened and closed. Resolves `{status, server,
 * reason}`: "connected" on its welcome, "refused" when the daemon closes the socket with a
 * token code (`refusedToken`; `reason` says which), "closed" when it answers HTTP but the
 * socket closes otherwise (a restart, a full daemon: `reason` has the close code),
 * "unreachable" when nothing answers or no socket can be made, and "timeout" when no welcome
 * came within `timeoutMs` (each caller says what that means).
 */
export async function checkDaemon(address, token, timeoutMs, WebSocketImpl = globalThis.WebSocket) {
  if (!(await daemonAnswers(address))) return { status: "unreachable" };
  return new Promise((resolve) => {
    let ws;
    const done = (status, server = "", reason = "") => {
      clearTimeout(timer);
      try { ws.close(); } catch { /* closed, or never made */ }
      resolve({ status, server, reason });
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    try {
      ws = new WebSocketImpl(daemonUrl(address, "/v1/events", token));
    } catch {
      done("unreachable");
      return;
    }
    ws.onmessage = (ev) => {
      let server = "";
      try { server = JSON.parse(ev.data).server || ""; } catch { /* not JSON */ }
      done("connected", server);
    };
    ws.onerror = () => {}; // onclose follows, with the code
    ws.onclose = (ev) => {
      if (refusedToken(ev)) done("refused", "", ev.reason || "");
      else done("closed", "", `closed with code ${ev ? ev.code : "?"}`);
    };
  });
}

/**
 * A socket to the daemon that comes back by itself: every socket is opened only after
 * `daemonAnswers` says the daemon is there (a first connect too: an engine Firefox reloaded
 * mid-outage would otherwise add a failed socket each time), and on close it waits its
 * backoff and asks again. Subclasses wire the socket's messages in `_wire(ws)`.
 */
class ReconnectingSocket {
  constructor({ config, path, onStatus, WebSocketImpl, probe }) {
    this.config = config; // {address, token}
    this.path = path;
    this.onStatus = onStatus;
    this.WebSocketImpl = WebSocketImpl || globalThis.WebSocket;
    this.probe = probe || daemonAnswers;
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    /** When the scheduled retry is due (ms since the epoch), while one is scheduled. */
    this.retryAt = null;
    /** When the probe in flight began, while one is. */
    this.probingSince = null;
    /** Bumped by every connect, so a probe that `kick()` gave up on cannot open a socket. */
    this.generation = 0;
    /** Retries `kick()` ran (its timer had not), reported with every status: if a tab ever
     * waits for a daemon that is back, the live state tells whether the kicks came. */
    this.kicks = 0;
    this.lastStatus = null;
  }

  _report(status) {
    this.lastStatus = status;
    this.onStatus({ ...status, kicks: this.kicks });
  }

  async _connect() {
    if (this.stopped) return;
    this.retryAt = null;
    const generation = ++this.generation;
    this.probingSince = Date.now();
    const answers = await this.probe(this.config.address);
    if (generation !== this.generation) return; // kick() started over meanwhile
    this.probingSince = null;
    if (!answers) {
      this._retryLater({});
      return;
    }
    if (this.stopped) return;
    let ws;
    try {
      ws = new this.WebSocketImpl(daemonUrl(this.config.address, this.path, this.config.token));
    } catch (err) {
      // The constructor throws, rather than failing the socket, for what the browser refuses
      // outright (a SecurityError, a document going away): a throw inside a timer would end
      // the retries for good, so it counts as one more failed attempt.
      this._retryLater({ error: String((err && err.message) || err) });
      return;
    }
    this.ws = ws;
    this._wire(ws);
    ws.onclose = (ev) => {
      this._onClose(ev);
      if (this.ws !== ws) return;
      // The daemon says when it refuses the token; any other close is an outage to wait out.
      if (refusedToken(ev)) this._retryLater({ code: ev.code, reason: ev.reason || "" }, "refused");
      else this._retryLater({ code: ev.code });
    };
    ws.onerror = () => {}; // onclose follows and owns the retry
  }

  /** Connected for good: the next outage starts its backoff from the beginning. */
  _connected(status) {
    this.attempt = 0;
    this._report({ status: "connected", ...status });
  }

  _retryLater(detail, status = "unreachable") {
    if (this.stopped) return;
    const delay = backoffDelayMs(this.attempt++);
    this._report({ status, retryInMs: delay, ...detail });
    clearTimeout(this.timer);
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => this._connect(), delay);
  }

  /**
   * Run a retry that is overdue, or start over from a probe that outlived its timeout. Called
   * on traffic that arrives anyway (a tab's PCM, ten times a second), so the retries do not
   * rest on timers alone: browsers may throttle the timers of a hidden document. A safeguard,
   * not a fix for a seen stall: the "retry that never ran" once blamed on timers was the
   * Firefox test reading the live state just after its second daemon had stopped
   * (docs/extension.md). Cheap when nothing is overdue: two comparisons.
   */
  kick(now = Date.now()) {
    if (this.stopped) return;
    const overdue = this.retryAt !== null && now > this.retryAt + KICK_SLACK_MS;
    const stuck =
      this.probingSince !== null && now > this.probingSince + PROBE_TIMEOUT_MS + KICK_SLACK_MS;
    if (overdue || stuck) {
      clearTimeout(this.timer);
      this.probingSince = null;
      this.kicks++;
      this._report({ ...(this.lastStatus || { status: "unreachable" }), kickedAtMs: now });
      this._connect();
    }
  }

  _onClose() {}

  _wire() {}

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.retryAt = null;
    this.probingSince = null;
  }
}

/**
 * One ingest stream. `send(bytes)` is fire-and-forget: while the socket is not ready the
 * audio is dropped (and counted), never queued — live mood is about now, not backlog.
 */
export class AudioStream extends ReconnectingSocket {
  constructor({
    config, stream, hello, onStatus = () => {}, onError = () => {}, WebSocketImpl, probe,
  }) {
    super({ config, path: "/v1/audio", onStatus, WebSocketImpl, probe });
    this.stream = stream;
    this.hello = hello; // {sample_rate_hz, channels, sample_format, title?, url?}
    this.onError = onError;
    this.ready = false;
    /** Batches dropped because the daemon was not (yet) there. */
    this.droppedBatches = 0;
    /** Bytes of PCM delivered to the socket. */
    this.bytesSent = 0;
    this._connect();
  }

  _wire(ws) {
    // 1008 (policy) after a bad hello, or a refused token, will not fix itself quickly,
    // but a restarted daemon can: the stream keeps retrying, with the backoff as the brake
    // (a new token restarts the streams at once).
    this.ready = false;
    ws.binaryType = "arraybuffer";
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
        this._connected({});
      } else if (msg.type === "error") {
        this.onError(msg);
      }
    };
  }

  _onClose() {
    this.ready = false;
  }

  /** Send one batch of PCM bytes (binary frame, never base64 on the wire). */
  send(bytes) {
    if (!this.ready || this.ws.readyState !== this.WebSocketImpl.OPEN) {
      this.droppedBatches++;
      this.kick(); // the audio keeps coming while the daemon is away: it drives the retries
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
    super.stop();
    const ws = this.ws;
    if (ws && ws.readyState === this.WebSocketImpl.OPEN) {
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
export class EventsClient extends ReconnectingSocket {
  constructor({ config, onEvent, onStatus = () => {}, WebSocketImpl, probe }) {
    super({ config, path: "/v1/events", onStatus, WebSocketImpl, probe });
    this.onEvent = onEvent;
    this.lastSeq = {};
    this._connect();
  }

  _wire(ws) {
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        this._connected({ server: msg.server });
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
  }

  stop() {
    super.stop();
    if (this.ws) this.ws.close(1000, "stopped");
  }
}
