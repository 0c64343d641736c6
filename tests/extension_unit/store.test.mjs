// The service worker's storage discipline (extension/lib/store.js): how often it writes.
// chrome.storage cannot run under node, so a fake stands in for it (FakeStorageArea below,
// counting writes); everything else is the real module.
import { test } from "node:test";
import assert from "node:assert/strict";

class FakeStorageArea {
  constructor() {
    this.data = {};
    this.writes = [];
  }
  async get(keys) {
    const list = typeof keys === "string" ? [keys] : keys;
    return Object.fromEntries(list.filter((k) => k in this.data).map((k) => [k, structuredClone(this.data[k])]));
  }
  async set(items) {
    this.writes.push(Object.keys(items));
    Object.assign(this.data, structuredClone(items));
  }
  async remove(key) {
    delete this.data[key];
  }
}

globalThis.chrome = { storage: { session: new FakeStorageArea(), local: new FakeStorageArea() } };
const store = await import("../../extension/lib/store.js");
const { session, local } = globalThis.chrome.storage;

test("a burst of live-state updates is one write, without timelines", async () => {
  const live = await store.getLive();
  live.streams.s = { stream: "s", recent: [] };
  for (let i = 0; i < 20; i++) {
    live.streams.s.last = { seq: i };
    store.setLive(live);
  }
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(session.writes.filter((w) => w.includes("live")).length, 1);
  assert.equal(session.data.live.streams.s.last.seq, 19);
});

test("timeline points move to their own key on a flush, and are forgotten with the stream", async () => {
  const entry = { stream: "s", recent: [{ t: 1, s: "calm", p: 0.9 }, { t: 2, s: "calm", p: 0.8 }] };
  await store.flushTimeline(entry, 10);
  await store.flushTimeline({ ...entry, recent: [{ t: 3, s: "calm", p: 0.7 }] }, 20);
  assert.deepEqual(session.data[store.timelineKey("s")].map((p) => p.t), [1, 2, 3]);
  assert.deepEqual(entry.recent, []);
  assert.equal(entry.timelineFlushedMs, 10);
  await store.forgetTimeline("s");
  assert.equal(session.data[store.timelineKey("s")], undefined);
});

test("the reminder state is saved when it changes in substance, not for every event", async () => {
  local.writes = [];
  const base = await store.getReminderState();
  await store.putReminderState({ ...base, calmSinceMs: 1000, lastEventMs: 1000 }, "not calm long enough");
  assert.equal(local.writes.length, 1);
  // One event a second moves only lastEventMs: no write until it is 5 s older than the saved one.
  for (let t = 2000; t <= 5000; t += 1000) {
    await store.putReminderState({ ...(await store.getReminderState()), lastEventMs: t }, "not calm long enough");
  }
  assert.equal(local.writes.length, 1);
  await store.putReminderState({ ...(await store.getReminderState()), lastEventMs: 6000 }, "not calm long enough");
  assert.equal(local.writes.length, 2);
  assert.equal(local.data.reminderState.lastEventMs, 6000);
  await store.putReminderState({ ...(await store.getReminderState()), lastEventMs: 6500 }, "offered");
  assert.equal(local.writes.length, 3); // a new verdict is saved at once
});
