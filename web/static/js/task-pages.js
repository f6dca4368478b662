// The rows of the task list for the current filter, paged in from the server (GET
// /tasks/status) as they scroll into view, so a history of 100,000 tasks costs the page only
// the screens it has looked at. The list (task-list.js) asks for the ids of the rows in view
// with slice(); rows not here yet come back as null and are asked for, with some ahead.
//
// Rows are kept by their place counted from the oldest end: a new task comes in at the top
// (the list is newest first), which leaves every row already here where it is. A change that
// adds or takes away a row anywhere else (a task leaves the Running tab, "clear finished")
// refreshes the rows in view, debounced, and forgets the others: they are paged in again
// when scrolled to. The counters come with every answer.

const PAGE = 100; // rows per request
const AHEAD = 50; // rows asked for beyond each edge of the view
const KEEP = 3000; // rows held at most; those farthest from the view are let go first
const MOST = 500; // rows per refresh at most (the server takes up to 100,000)
const REFRESH_MS = 200; // changes within this long cost one refresh
const SEARCH_MS = 150; // typing: ask once the keys pause
const MAX_QUERY = 200; // what the server accepts

export class TaskPages {
  /** onChange(): rows or counts changed, paint again. */
  constructor({ api, store, onChange }) {
    this.api = api;
    this.store = store;
    this.onChange = onChange;
    this.filter = { status: "", search: "", order: "" };
    this.total = 0; // rows for this filter
    this.rows = new Map(); // place from the oldest end (0) -> task id
    this.loaded = false; // the rows of this filter are known (not still the last filter's)
    this.epoch = 0; // bumped when what is here is replaced: older answers are dropped
    this.asked = new Set(); // requests of this epoch still out (or failed: not asked again)
    this.added = 0; // new tasks put at the top
    this.view = [0, 0]; // the rows last shown
    this.timer = null;
    store.listener = this;
  }

  get length() {
    return this.total;
  }

  /** The ids of rows first..last-1, null where not here yet (those are asked for). */
  slice(first, last) {
    this.view = [first, last];
    const ids = [];
    for (let i = first; i < last; i++) ids.push(this.rows.get(this.total - 1 - i) ?? null);
    if (this.loaded) this.#askMissing(first, last);
    return ids;
  }

  /** The status tab ("all" for every status) and the search text. Until the first answer
   * comes, the rows of the last filter stay in view. The Queued tab lists the line in the
   * order it will start. */
  setFilter(status, query) {
    const filter = {
      status: status === "all" ? "" : status,
      search: query.trim().slice(0, MAX_QUERY),
      order: status === "queued" ? "line" : "",
    };
    if (filter.status === this.filter.status && filter.search === this.filter.search) return;
    const typing = filter.status === this.filter.status;
    this.filter = filter;
    this.loaded = false;
    this.#drop(); // answers for the last filter are of no use now
    this.#schedule(typing ? SEARCH_MS : 0);
  }

  // -- what the store tells ------------------------------------------------------------------

  /** A snapshot: the store holds the newest tasks, which are the top rows of the whole list. */
  reset() {
    if (this.filter.status || this.filter.search) return this.#schedule(0);
    this.#drop();
    const { order, total } = this.store;
    this.rows = new Map(order.map((id, i) => [total - 1 - i, id]));
    this.total = total;
    this.loaded = true;
  }

  /** A task changed (or came); `old` is the version held before, if any. */
  merged(task, old) {
    const now = this.#matches(task);
    if (this.filter.order === "line") {
      // Any change in the line (a new task, a start, a new priority) can reorder it.
      if (now || old?.status === "queued") this.#schedule(REFRESH_MS);
      return;
    }
    if (task.fresh) {
      // New, so the newest: it goes on top, where the server will list it too.
      if (now) {
        this.total += 1;
        this.added += 1;
        this.rows.set(this.total - 1, task.task_id);
      }
      return;
    }
    const before = old ? this.#matches(old) : null; // null: not known here
    // In the list before and after: its row repaints from the store, nothing moves.
    if (before !== now || this.store.countsStale) this.#schedule(REFRESH_MS);
  }

  removed() {
    this.#schedule(REFRESH_MS);
  }

  // -- asking the server ---------------------------------------------------------------------

  #matches(task) {
    const { status, search } = this.filter;
    if (status && task.status !== status) return false;
    if (!search) return true;
    const query = search.toLowerCase();
    return task.nameLower.includes(query) || task.task_id.startsWith(query);
  }

  #askMissing(first, last) {
    const end = Math.min(this.total, last + AHEAD);
    for (let i = Math.max(0, first - AHEAD); i < end; i++) {
      if (this.rows.has(this.total - 1 - i)) continue;
      const offset = Math.floor(i / PAGE) * PAGE;
      this.#ask(offset, PAGE, false);
      i = offset + PAGE - 1;
    }
  }

  /** Refresh the rows in view `ms` from now (changes meanwhile join in), forgetting the rest. */
  #schedule(ms) {
    if (this.timer !== null) {
      if (ms) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.#drop();
      const [first, last] = this.view;
      const offset = Math.max(0, first - AHEAD);
      this.#ask(offset, Math.min(MOST, Math.max(PAGE, last + AHEAD - offset)), true);
    }, ms);
  }

  #drop() {
    this.epoch += 1;
    this.asked.clear();
  }

  async #ask(offset, limit, replace) {
    const key = `${offset}:${limit}`;
    if (this.asked.has(key)) return;
    this.asked.add(key);
    const { epoch, added } = this;
    const since = this.store.clock;
    let answer;
    try {
      answer = await this.api.listTasks(this.filter, offset, limit);
    } catch {
      // Not asked again until the next refresh: the connection banner says what is wrong,
      // and a new connection's snapshot brings a refresh.
      return;
    }
    if (epoch !== this.epoch) return;
    this.asked.delete(key);
    this.store.take(answer.tasks, since);
    if (replace) this.rows = new Map();
    const top = answer.total - 1 - offset; // the place of the answer's first row
    answer.tasks.forEach((task, k) => this.rows.set(top - k, task.task_id));
    // New tasks put on top meanwhile may or may not be in the answer: the next refresh knows.
    this.total = this.added === added ? answer.total : Math.max(this.total, answer.total);
    this.loaded = true;
    if (this.store.clock === since) this.store.setCounts(answer.counts);
    else if (this.store.countsStale) this.#schedule(REFRESH_MS);
    this.#letGo();
    this.onChange();
  }

  /** Past KEEP rows, let go of those farthest from the view, and of their tasks. */
  #letGo() {
    if (this.rows.size <= KEEP) return;
    const middle = this.total - 1 - (this.view[0] + this.view[1]) / 2;
    for (const place of this.rows.keys()) {
      if (Math.abs(place - middle) > KEEP / 2) this.rows.delete(place);
    }
    this.store.prune(new Set(this.rows.values()));
  }
}
