// The cluster's line under the queue bar: the Dask scheduler's address, its workers and
// threads, and whether the app reaches it (with the reason when not). Hidden while no
// scheduler is set. GET /executors fills it; `executors` messages keep it live.

const plural = (n, one) => `${n.toLocaleString()} ${one}${n === 1 ? "" : "s"}`;

export class ClusterBar {
  constructor(bar, { api, onChange }) {
    this.bar = bar;
    this.api = api;
    this.onChange = onChange;
    this.executors = [{ name: "local", default: true }];
    // Counts socket news: a GET answer that left before the latest news is older than it.
    this.news = 0;
    this.parts = {};
    for (const node of bar.querySelectorAll("[data-cluster]")) this.parts[node.dataset.cluster] = node;
  }

  /** The dask executor as the server last told, or null when no scheduler is set. */
  get dask() {
    return this.executors.find((executor) => executor.name === "dask") ?? null;
  }

  /** An `executors` message. */
  receive(message) {
    this.news += 1;
    this.#take(message.executors);
  }

  /** Ask the server (at each (re)connection, and when the scheduler setting changed). */
  async reload() {
    const asked = this.news;
    const executors = await this.api.executors();
    if (asked === this.news) this.#take(executors);
  }

  #take(executors) {
    this.executors = executors;
    this.#paint();
    this.onChange();
  }

  #paint() {
    const { dask, parts } = this;
    this.bar.hidden = !dask;
    if (!dask) return;
    this.bar.dataset.connected = String(Boolean(dask.connected));
    parts.state.textContent = dask.connected ? "Connected" : "Not connected";
    parts.address.textContent = dask.address ?? "";
    parts.address.title = dask.address ?? "";
    parts.counts.hidden = !dask.connected; // a lost scheduler's last figures would mislead
    parts.workers.textContent = plural(dask.workers ?? 0, "worker");
    parts.threads.textContent = plural(dask.threads ?? 0, "thread");
    parts.default.hidden = !dask.default;
    parts.error.hidden = dask.connected || !dask.error;
    parts.error.textContent = dask.connected ? "" : (dask.error ?? "");
  }
}
