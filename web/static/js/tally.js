// The counts behind the charts, as GET /stats answered them, moved by WebSocket deltas. What
// a task counts for is a function of its version alone (web/stats.py says the same in SQL):
// its start in the bucket it started in, its end (by final status) in the bucket it ended
// in, its run time class, its status if it was added in the range; all only if it passes
// the filters. A change takes away what the old version counted for and adds the new one's,
// so a progress update moves nothing and a status change moves exactly what it should.

const ENDED = new Set(["completed", "failed", "cancelled", "interrupted"]);

const seconds = (iso) => (iso ? Date.parse(iso) / 1000 : null);

export class Tally {
  /** stats: the answer of GET /stats; filters: {status, kind, search} as it was asked. */
  constructor(stats, filters, receivedMs) {
    this.stats = stats;
    this.filters = { ...filters, search: filters.search.toLowerCase() };
    this.size = stats.bucket_seconds;
    this.first = stats.times.length ? stats.times[0] / this.size : 0;
    this.since = stats.times[0] ?? 0;
    this.until = (stats.times.at(-1) ?? 0) + this.size;
    this.series = stats.series; // name -> counts per bucket, updated in place
    this.durations = stats.durations.counts;
    this.statuses = stats.statuses;
    this.edges = stats.durations.edges;
    // The server's clock, as best known here: its "now" plus the time since the answer came.
    this.clockOffset = stats.now * 1000 - receivedMs;
    this.version = 0;
  }

  /** A socket message; true if any count moved. */
  observe(message, before) {
    const changes = [];
    if (message.type === "task") changes.push([before?.get(message.task.task_id), message.task]);
    else if (message.type === "removed") for (const old of before?.values() ?? []) changes.push([old, null]);
    let moved = false;
    for (const [old, now] of changes) {
      const gone = old ? this.#counts(old) : [];
      const come = now ? this.#counts(now) : [];
      if (gone.join("|") === come.join("|")) continue;
      for (const key of gone) this.#add(key, -1);
      for (const key of come) this.#add(key, 1);
      moved = true;
    }
    if (moved) this.version += 1;
    return moved;
  }

  /** Whether the server's clock has entered a bucket after the last one the series has. */
  rolledOver(nowMs) {
    return (nowMs + this.clockOffset) / 1000 >= this.until;
  }

  total(name) {
    return this.series[name].reduce((sum, n) => sum + n, 0);
  }

  /** What one version of a task counts for, as [series or "runtime" or "status", index] keys. */
  #counts(task) {
    if (!this.#passes(task)) return [];
    const keys = [];
    const started = seconds(task.started_at);
    const finished = seconds(task.finished_at);
    const created = seconds(task.created_at);
    if (this.#within(started)) keys.push(["started", this.#bucket(started)]);
    if (this.#within(finished)) {
      if (ENDED.has(task.status)) keys.push([task.status, this.#bucket(finished)]);
      const ran = started === null ? -1 : finished - started;
      if (ran >= 0) keys.push(["runtime", this.edges.filter((edge) => ran >= edge).length]);
    }
    if (this.#within(created)) keys.push(["status", task.status]);
    return keys;
  }

  #passes(task) {
    const { status, kind, search } = this.filters;
    if (status && task.status !== status) return false;
    if (kind && task.kind !== kind) return false;
    return !search || task.name.toLowerCase().includes(search) || task.task_id.startsWith(search);
  }

  #within(time) {
    return time !== null && time >= this.since && time < this.until;
  }

  #bucket(time) {
    return Math.floor(time / this.size) - this.first;
  }

  #add([name, index], delta) {
    if (name === "runtime") this.durations[index] += delta;
    else if (name === "status") this.statuses[index] = (this.statuses[index] ?? 0) + delta;
    else if (this.series[name] && index >= 0 && index < this.series[name].length) this.series[name][index] += delta;
  }
}
