// The page's copy of the server's tasks and queue settings, kept true by the WebSocket. It
// holds the newest tasks (the snapshot's) and those the list has paged in, not all of them:
// `total` and `counts` say how many the server has. Snapshots replace everything (so a
// reconnect leaves no stale or duplicate rows); deltas and API answers merge one task at a
// time, and tell the `listener` (the list's pages) what changed.

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
    this.order = []; // ids of the snapshot's tasks and of those added since, newest first
    this.total = 0; // how many tasks the server has
    this.newestMs = -Infinity; // creation time of the newest task seen: a later unknown one is new
    this.clock = 0; // counts deltas taken in: a page answer never overwrites a newer delta
    this.countsStale = false; // a task held nowhere here changed or went: counts are guesses
    this.listener = null; // {merged(task, old), removed(ids), reset()}
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
    return this.total;
  }

  get(id) {
    return this.byId.get(id);
  }

  /** A server message; stale deltas (seq not newer than what we hold) are dropped. */
  receive(message) {
    if (message.type === "snapshot") {
      // Merged: the snapshot carries the queue's settings, not all of them (the executor's
      // come from GET /settings and settings messages).
      if (message.settings) this.settings = { ...this.settings, ...message.settings };
      this.reset(message.tasks, message.seq, message.total, message.counts);
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
   * server's order). When some queued tasks are not held here (a long queue in a long
   * history), the server's figures are the best there is. Recomputed after the queue changed.
   */
  positions() {
    if (this.line.version === this.queueVersion) return this.line.positions;
    const queued = [...this.byId.values()].filter((task) => task.status === "queued");
    let positions;
    if (queued.length >= this.counts.queued) {
      queued.sort(
        (a, b) =>
          b.priority - a.priority || a.createdMs - b.createdMs || (a.queue_position ?? 0) - (b.queue_position ?? 0),
      );
      positions = new Map(queued.map((task, i) => [task.task_id, i + 1]));
    } else {
      positions = new Map(queued.map((task) => [task.task_id, task.queue_position ?? undefined]));
    }
    this.line = { version: this.queueVersion, positions };
    return positions;
  }

  /** A snapshot: the newest tasks, and (from servers that send them) total and counts. */
  reset(tasks, seq, total = tasks.length, counts = null) {
    this.byId = new Map(tasks.map((t) => [t.task_id, prepare(t)]));
    this.order = tasks.map((t) => t.task_id);
    for (const status of STATUSES) this.counts[status] = 0;
    if (counts) Object.assign(this.counts, counts);
    else for (const task of this.byId.values()) this.#count(task.status, 1);
    this.total = total;
    this.newestMs = Math.max(-Infinity, ...[...this.byId.values()].map((task) => task.createdMs));
    this.countsStale = false;
    this.busy.clear();
    this.queueVersion += 1;
    this.seq = seq;
    this.loaded = true;
    this.#changed(true);
    this.listener?.reset();
  }

  /** Tasks from a page of the list, asked for when `clock` was `since`: a task a delta
   * changed since then keeps the delta's version. */
  take(tasks, since) {
    for (const wire of tasks) {
      const old = this.byId.get(wire.task_id);
      if (!old || (old.stamp ?? 0) <= since) this.byId.set(wire.task_id, prepare(wire));
    }
    this.queueVersion += 1;
    this.#changed(false);
  }

  /** How many tasks there are by status, from a list answer. */
  setCounts(counts) {
    Object.assign(this.counts, counts);
    this.total = STATUSES.reduce((sum, status) => sum + (this.counts[status] ?? 0), 0);
    this.countsStale = false;
    this.#changed(false);
  }

  /** Forget finished tasks the list no longer shows (memory stays bounded however far the
   * list is scrolled), except the snapshot's and new ones, and those with an action in flight. */
  prune(keep) {
    const listed = new Set(this.order);
    for (const [id, task] of this.byId) {
      if (FINAL.has(task.status) && !keep.has(id) && !listed.has(id) && !this.busy.has(id)) {
        this.byId.delete(id);
      }
    }
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
    this.clock += 1;
    task.stamp = this.clock;
    task.fresh = !old && task.createdMs > this.newestMs; // added since the snapshot
    this.byId.set(task.task_id, task);
    if (old) {
      this.#count(old.status, -1);
      this.#count(task.status, 1);
    } else if (task.fresh) {
      this.newestMs = task.createdMs;
      this.total += 1;
      this.#count(task.status, 1);
      this.#insertInOrder(task);
    } else {
      this.countsStale = true; // an older task this page held no copy of: was it counted as?
    }
    if (task.status === "queued" || old?.status === "queued") this.queueVersion += 1;
    this.#changed(!old || old.status !== task.status);
    this.listener?.merged(task, old);
  }

  remove(ids) {
    const gone = new Set(ids.filter((id) => this.byId.has(id)));
    if (gone.size < ids.length) this.countsStale = true; // some were not held here
    for (const id of gone) {
      this.#count(this.byId.get(id).status, -1);
      this.total -= 1;
      this.byId.delete(id);
      this.busy.delete(id);
    }
    if (gone.size) this.order = this.order.filter((id) => !gone.has(id));
    this.queueVersion += 1;
    this.#changed(true);
    this.listener?.removed(ids);
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
