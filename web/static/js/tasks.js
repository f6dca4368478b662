// The page's copy of the server's tasks (newest first, with counts) and queue settings, kept
// true by the WebSocket. Snapshots replace everything (so a reconnect leaves no stale or
// duplicate rows); deltas and API answers merge one task at a time.

import { FINAL, STATUSES } from "./status.js";

const time = (iso) => (iso ? Date.parse(iso) : null);

/** The wire task plus parsed times (ms), so rendering never re-parses dates. */
function prepare(task) {
  return {
    ...task,
    createdMs: time(task.created_at),
    runAtMs: time(task.run_at),
    startedMs: time(task.started_at),
    finishedMs: time(task.finished_at),
    receivedMs: Date.now(), // the progress figure is the server's as of about now
    nameLower: task.name.toLowerCase(),
  };
}

export class TaskStore {
  constructor() {
    this.byId = new Map();
    this.order = []; // task ids, newest first
    this.counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    this.seq = -1;
    this.loaded = false;
    // Bumped when membership or status changes (filters must re-run) vs. any change at all.
    this.listVersion = 0;
    this.version = 0;
    // Bumped when a queued task comes, goes or changes: live queue positions depend on it.
    this.queueVersion = 0;
    this.settings = { max_concurrent: null, queue_paused: false };
    this.busy = new Map(); // task id -> the action in flight for it ("cancel", "pause", ...)
    this.line = { version: -1, positions: new Map() };
    this.resumable = new Set(["timer"]); // kinds that can be paused (GET /kinds tells)
  }

  setKinds(kinds) {
    this.resumable = new Set(kinds.filter((kind) => kind.resumable).map((kind) => kind.name));
    this.#changed(false);
  }

  get size() {
    return this.order.length;
  }

  get(id) {
    return this.byId.get(id);
  }

  /** A server message; stale deltas (seq not newer than what we hold) are dropped. */
  receive(message) {
    if (message.type === "snapshot") {
      if (message.settings) this.settings = message.settings;
      this.reset(message.tasks, message.seq);
      return;
    }
    if (message.seq <= this.seq) return;
    this.seq = message.seq;
    if (message.type === "task") this.merge(message.task);
    else if (message.type === "removed") this.remove(message.task_ids);
    else if (message.type === "settings") this.setSettings(message.settings);
  }

  /** Queue settings from the socket or from the answer to our own change. */
  setSettings(settings) {
    this.settings = { ...this.settings, ...settings };
    this.#changed(false);
  }

  /**
   * Where each queued task stands in line (1 = next to start), computed here because the
   * server's queue_position is only as fresh as the task's own last change. Same order as
   * the engine: higher priority first, then submission order (creation time, then the
   * snapshot's order). Recomputed only after the queue changed.
   */
  positions() {
    if (this.line.version === this.queueVersion) return this.line.positions;
    const queued = [];
    for (let i = this.order.length - 1; i >= 0; i--) {
      const task = this.byId.get(this.order[i]); // oldest first
      if (task.status === "queued") queued.push(task);
    }
    // Stable sort: equal priorities keep the oldest-first order of the loop above.
    queued.sort((a, b) => b.priority - a.priority || a.createdMs - b.createdMs);
    const positions = new Map(queued.map((task, i) => [task.task_id, i + 1]));
    this.line = { version: this.queueVersion, positions };
    return positions;
  }

  reset(tasks, seq) {
    this.byId = new Map(tasks.map((t) => [t.task_id, prepare(t)]));
    this.order = tasks.map((t) => t.task_id);
    for (const status of STATUSES) this.counts[status] = 0;
    for (const task of this.byId.values()) this.#count(task.status, 1);
    this.busy.clear();
    this.queueVersion += 1;
    this.seq = seq;
    this.loaded = true;
    this.#changed(true);
  }

  /**
   * A task from a REST answer (add, cancel, retry, ...). It races the socket, which may already have
   * newer news (e.g. "running" before POST /tasks/add answers "queued"), so it only adds a
   * task we do not know yet or brings one to its final status.
   */
  adopt(wire) {
    const old = this.byId.get(wire.task_id);
    if (!old || (FINAL.has(wire.status) && !FINAL.has(old.status))) this.merge(wire);
  }

  /** One task from a socket delta: deltas arrive in order, so the latest one is the truth. */
  merge(wire) {
    const old = this.byId.get(wire.task_id);
    const task = prepare(wire);
    this.byId.set(task.task_id, task);
    if (old) {
      this.#count(old.status, -1);
    } else {
      this.#insertInOrder(task);
    }
    this.#count(task.status, 1);
    if (task.status === "queued" || old?.status === "queued") this.queueVersion += 1;
    this.#changed(!old || old.status !== task.status);
  }

  remove(ids) {
    const gone = new Set(ids.filter((id) => this.byId.has(id)));
    if (!gone.size) return;
    for (const id of gone) {
      this.#count(this.byId.get(id).status, -1);
      this.byId.delete(id);
      this.busy.delete(id);
    }
    this.order = this.order.filter((id) => !gone.has(id));
    this.queueVersion += 1;
    this.#changed(true);
  }

  /** Mark a row's action as in flight (its buttons wait), or clear it with null. */
  setBusy(id, action) {
    if (action) this.busy.set(id, action);
    else this.busy.delete(id);
    this.#changed(false);
  }

  #count(status, delta) {
    this.counts[status] = (this.counts[status] ?? 0) + delta;
  }

  #insertInOrder(task) {
    // New tasks are almost always the newest; keep order by creation time regardless.
    let i = 0;
    while (i < this.order.length && this.byId.get(this.order[i]).createdMs > task.createdMs) i++;
    this.order.splice(i, 0, task.task_id);
  }

  #changed(listChanged) {
    this.version += 1;
    if (listChanged) this.listVersion += 1;
  }
}
