// How the extension's daemon clients (extension/lib/daemon.js) come back after an outage.
// The probe is tested against real HTTP servers; the reconnect order with a fake socket
// class (Node 20 has no WebSocket client), whose constructions are what is counted.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { checkDaemon, daemonAnswers, EventsClient, AudioStream } from "../../extension/lib/daemon.js";

/** A real HTTP server on a free loopback port answering `/healthz` as the daemon does. */
async function healthServer() {
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "application/json" });
    res.end('{"status":"ok"}\n');
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function closedPortAddress() {
  const server = await healthServer();
  const address = `127.0.0.1:${server.address().port}`;
  await new Promise((resolve) => server.close(resolve));
  return address;
}

/** Stands in for the browser's WebSocket: records every socket a client opens. */
function fakeSocketClass() {
  const opened = [];
  class FakeSocket {
    static OPEN = 1;
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      opened.push(this);
    }
    send(data) {
      this.sent.push(data);
    }
    close() {
      this.readyState = 3;
    }
    /** The handshake completed: the browser calls the handler the client set, if any. */
    open() {
      this.readyState = 1;
      if (this.onopen) this.onopen({});
    }
    /** The daemon went away: the browser closes the socket. */
    drop(code = 1006) {
      this.readyState = 3;
      this.onclose({ code });
    }
  }
  return { FakeSocket, opened };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The stream of one tab, as the engine opens it, at an address nothing listens on. */
function tabStream({ token = "", ...options }) {
  return new AudioStream({
    config: { address: "127.0.0.1:1", token },
    stream: "tab-1",
    hello: { sample_rate_hz: 16000, channels: 1, sample_format: "s16le" },
    ...options,
  });
}

/** The engine's events subscriber, at an address nothing listens on, ignoring events. */
function eventsClient({ token = "", ...options }) {
  return new EventsClient({ config: { address: "127.0.0.1:1", token }, onEvent: () => {}, ...options });
}

test("the probe says whether anything answers HTTP at the daemon's address", async () => {
  const server = await healthServer();
  try {
    assert.equal(await daemonAnswers(`127.0.0.1:${server.address().port}`), true);
  } finally {
    server.close();
  }
  assert.equal(await daemonAnswers(await closedPortAddress()), false);
});

test("no socket opens until the daemon's /healthz answers, after an outage too (fake socket)", async () => {
  const { FakeSocket, opened } = fakeSocketClass();
  const answers = [false, true, false, false, true];
  const probed = [];
  const statuses = [];
  const client = eventsClient({
    token: "t",
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: FakeSocket,
    probe: async (address) => {
      probed.push(address);
      return answers.shift() ?? true;
    },
  });
  try {
    // Nobody there at first: a probe, no socket, a retry reported.
    await until(() => probed.length === 1, 1000, "the first probe");
    assert.equal(opened.length, 0);
    await until(() => opened.length === 1, 3000, "the first socket");
    assert.equal(probed.length, 2);
    assert.equal(opened[0].url, "ws://127.0.0.1:1/v1/events?token=t");
    opened[0].open();
    opened[0].onmessage({ data: JSON.stringify({ type: "welcome", server: "streamchill/x" }) });
    assert.equal(statuses.at(-1).status, "connected");
    // The daemon goes away: two probes find nobody, and no socket is tried meanwhile.
    opened[0].drop();
    await until(() => probed.length === 4, 4000, "two probes in the outage");
    assert.equal(opened.length, 1);
    // The next probe answers: only now a second socket.
    await until(() => opened.length === 2, 6000, "the second socket");
    assert.equal(probed.length, 5);
    assert.ok(probed.every((a) => a === "127.0.0.1:1"));
    const unreachable = statuses.filter((s) => s.status === "unreachable");
    assert.deepEqual(unreachable.map((s) => s.code), [undefined, 1006, undefined, undefined]);
    // Welcomed again: the backoff starts over for the next outage.
    opened[1].onmessage({ data: JSON.stringify({ type: "welcome", server: "streamchill/x" }) });
    assert.equal(client.attempt, 0);
    assert.equal(statuses.at(-1).status, "connected");
  } finally {
    client.stop();
  }
});

test("a stopped stream neither probes nor reopens (fake socket)", async () => {
  const { FakeSocket, opened } = fakeSocketClass();
  let probes = 0;
  let release;
  const stream = tabStream({
    WebSocketImpl: FakeSocket,
    probe: () => {
      probes++;
      return new Promise((resolve) => (release = resolve));
    },
  });
  await until(() => probes === 1, 2000, "the probe");
  stream.stop(); // stopped while the probe is still out
  release(true);
  await sleep(1500);
  assert.equal(opened.length, 0);
  assert.equal(probes, 1);
  assert.equal(stream.send(new Uint8Array(4)), false);
});

test("a socket the browser refuses to construct is one more failed attempt, not the end (fake socket)", async () => {
  const { FakeSocket, opened } = fakeSocketClass();
  let refusals = 1;
  class RefusingOnce extends FakeSocket {
    constructor(url) {
      if (refusals-- > 0) throw new Error("The operation is insecure.");
      super(url);
    }
  }
  const statuses = [];
  const client = eventsClient({
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: RefusingOnce,
    probe: async () => true,
  });
  try {
    await until(() => opened.length === 1, 3000, "the socket after the refusal");
    assert.equal(statuses[0].status, "unreachable");
    assert.equal(statuses[0].error, "The operation is insecure.");
  } finally {
    client.stop();
  }
});

test("a socket the daemon closes with a token code is reported refused, any other close is an outage (fake socket)", async () => {
  const { FakeSocket, opened } = fakeSocketClass();
  const statuses = [];
  const stream = tabStream({
    token: "wrong",
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: FakeSocket,
    probe: async () => true,
  });
  try {
    await until(() => opened.length === 1, 1000, "the socket");
    opened[0].open();
    opened[0].readyState = 3;
    opened[0].onclose({ code: 4403, reason: "wrong token: `streamchill token` prints the daemon's" });
    assert.equal(statuses.at(-1).status, "refused");
    assert.match(statuses.at(-1).reason, /wrong token/);
    await until(() => opened.length === 2, 2000, "the retry");
    // Closed before it opened, while /healthz answered: a daemon restarting, not a refusal.
    opened[1].drop(1006);
    assert.equal(statuses.at(-1).status, "unreachable");
    await until(() => opened.length === 3, 4000, "the next retry");
    opened[2].open(); // accepted this time, then the daemon goes away
    assert.deepEqual(opened[2].sent.map((m) => JSON.parse(m).type), ["hello"]);
    opened[2].drop(1001);
    assert.equal(statuses.at(-1).status, "unreachable");
    assert.equal(statuses.at(-1).code, 1001);
  } finally {
    stream.stop();
  }
});

test("audio that keeps coming runs a retry its timer did not (fake socket)", async () => {
  const { FakeSocket, opened } = fakeSocketClass();
  let probes = 0;
  const statuses = [];
  const stream = tabStream({
    onStatus: (st) => statuses.push(st),
    WebSocketImpl: FakeSocket,
    probe: async () => ++probes > 1,
  });
  try {
    await until(() => stream.retryAt !== null, 1000, "the first retry scheduled");
    clearTimeout(stream.timer); // as a throttled timer: it will not fire
    const due = stream.retryAt;
    stream.kick(due); // due, not overdue: nothing yet
    assert.equal(probes, 1);
    stream.retryAt = Date.now() - 2000; // long overdue by now
    assert.equal(stream.send(new Uint8Array(4)), false); // a batch of audio arrives
    await until(() => opened.length === 1, 1000, "the socket the kick opened");
    assert.equal(probes, 2);
    // The kick says so in the status the live state keeps (a failure's note shows it).
    assert.equal(statuses[0].kicks, 0);
    const kicked = statuses.find((st) => st.kickedAtMs !== undefined);
    assert.equal(kicked.kicks, 1);
    assert.equal(kicked.status, "unreachable");
  } finally {
    stream.stop();
  }
});

test("a probe that never settles is given up for a new one, and cannot open a socket later (fake socket)", async () => {
  const { FakeSocket, opened } = fakeSocketClass();
  const pending = [];
  const client = eventsClient({
    WebSocketImpl: FakeSocket,
    probe: () => new Promise((resolve) => pending.push(resolve)),
  });
  try {
    assert.equal(pending.length, 1);
    client.kick(client.probingSince + 1000); // still within its timeout: left alone
    assert.equal(pending.length, 1);
    client.kick(client.probingSince + 10_000); // long past it: a new probe
    assert.equal(pending.length, 2);
    pending[0](true); // the abandoned probe answers at last
    await sleep(20);
    assert.equal(opened.length, 0);
    pending[1](true);
    await until(() => opened.length === 1, 1000, "the socket of the new probe");
  } finally {
    client.stop();
  }
});

test("checkDaemon tells connected, refused, closed, unreachable and a silent daemon apart (fake socket)", async () => {
  const server = await healthServer();
  const address = `127.0.0.1:${server.address().port}`;
  /** A socket the daemon answers as `behave` says, once the caller has wired it. */
  const socketThat = (behave) =>
    class extends fakeSocketClass().FakeSocket {
      constructor(url) {
        super(url);
        setTimeout(() => behave(this), 10);
      }
    };
  const welcomes = socketThat((ws) => ws.onmessage({ data: '{"type":"welcome","server":"streamchill/1"}' }));
  const refuses = socketThat((ws) => ws.onclose({ code: 4401, reason: "missing token: `streamchill token` prints it" }));
  const restarts = socketThat((ws) => ws.onclose({ code: 1006 }));
  const silent = socketThat(() => {});
  class Throws {
    constructor() {
      throw new Error("The operation is insecure.");
    }
  }
  try {
    assert.deepEqual(await checkDaemon(address, "t", 1000, welcomes), { status: "connected", server: "streamchill/1", reason: "" });
    assert.deepEqual(await checkDaemon(address, "", 1000, refuses), { status: "refused", server: "", reason: "missing token: `streamchill token` prints it" });
    assert.deepEqual(await checkDaemon(address, "t", 1000, restarts), { status: "closed", server: "", reason: "closed with code 1006" });
    assert.equal((await checkDaemon(address, "t", 100, silent)).status, "timeout");
    assert.equal((await checkDaemon(address, "t", 1000, Throws)).status, "unreachable");
    // Nothing at the address: no socket is even tried.
    const { FakeSocket, opened } = fakeSocketClass();
    assert.equal((await checkDaemon(await closedPortAddress(), "t", 1000, FakeSocket)).status, "unreachable");
    assert.equal(opened.length, 0);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
