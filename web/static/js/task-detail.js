// A task's whole record in a drawer, at its own URL (#task/ID, see router.js): every field,
// its timings as times and durations, its attempts, exit code, error, log, and the tasks it
// runs after and that wait on it. Live: it repaints from the store as deltas arrive, and
// falls back to GET /tasks/{id} for a task the page does not hold (yet).

import { ApiError } from "./api.js";
import { exactTime, formatDuration } from "./format.js";
import { commandLine } from "./shell-words.js";
import { FINAL, lookOf } from "./status.js";

const BADGE = "inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset";
const LINK = "font-mono text-indigo-600 underline-offset-2 hover:underline dark:text-indigo-400";
const LOG_BYTES = 64 * 1024;

const time = (iso) => (iso ? Date.parse(iso) : null);

/** What a command's end says about its exit: "0", "3", "signal 9", or null (not known). */
export function exitCode(task) {
  if (task.kind !== "command" || !FINAL.has(task.status)) return null;
  if (task.status === "completed") return "0";
  const code = /^exit code (-?\d+)/.exec(task.error ?? "");
  if (code) return code[1];
  const signal = /^killed by signal (\d+)/.exec(task.error ?? "");
  return signal ? `signal ${signal[1]}` : null;
}

function el(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function taskLink(id, store) {
  const other = store.get(id);
  const item = el("li", "flex min-w-0 items-center gap-2");
  const link = el("a", LINK, id.slice(0, 8));
  link.href = `#task/${encodeURIComponent(id)}`;
  link.title = id;
  item.append(link);
  if (other) {
    item.append(el("span", "truncate text-zinc-600 dark:text-zinc-300", other.name || other.kind));
    item.append(el("span", "shrink-0 text-xs text-zinc-500 dark:text-zinc-400", lookOf(other.status).label));
  } else {
    item.append(el("span", "text-xs text-zinc-500 italic dark:text-zinc-400", "not in the list (cleared)"));
  }
  return item;
}

export class TaskDetail {
  /** openLog(id) opens the live log drawer; onClose() leaves the task's URL. */
  constructor(panel, { api, store, openLog, onClose }) {
    this.panel = panel;
    this.api = api;
    this.store = store;
    this.taskId = null;
    this.fetched = null; // the task from GET /tasks/{id}, while the store has none
    this.painted = null; // [task, store version, minute] last painted
    this.log = { taskId: null, status: null, text: "", more: false };
    this.session = 0;
    this.parts = {};
    for (const node of panel.querySelectorAll("[data-detail]")) this.parts[node.dataset.detail] = node;
    panel.querySelector("[data-close]").addEventListener("click", () => onClose());
    this.parts.openLog.addEventListener("click", () => openLog(this.taskId));
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") onClose();
    });
  }

  get isOpen() {
    return this.taskId !== null;
  }

  async open(taskId) {
    if (this.taskId === taskId) return;
    this.session += 1;
    const session = this.session;
    this.taskId = taskId;
    this.fetched = null;
    this.problem = "";
    this.painted = null;
    this.panel.hidden = false;
    this.panel.querySelector("[data-close]").focus();
    this.paint();
    if (this.store.get(taskId)) return;
    try {
      const task = await this.api.task(taskId);
      if (session === this.session) this.fetched = task;
    } catch (error) {
      if (session !== this.session) return;
      this.problem =
        error instanceof ApiError && error.status === 404
          ? `No task with id ${taskId}: it may have been cleared.`
          : error.message;
    }
    this.painted = null; // what it found (or why not) is news even if nothing else changed
    this.paint();
  }

  close() {
    if (!this.taskId) return;
    const id = this.taskId;
    this.session += 1;
    this.taskId = null;
    this.panel.hidden = true;
    document.querySelector(`#task-rows [data-task-id="${CSS.escape(id)}"] [data-part=name]`)?.focus();
  }

  /** Repaint if the task, the store or the minute changed (running times tick). */
  paint(now = Date.now()) {
    if (!this.taskId) return;
    const task = this.store.get(this.taskId) ?? this.fetched;
    const key = [task, this.store.listVersion, task && !task.finished_at ? Math.floor(now / 1000) : 0];
    if (this.painted && key.every((part, i) => part === this.painted[i])) return;
    this.painted = key;
    const { parts } = this;
    parts.state.hidden = Boolean(task);
    parts.body.hidden = !task;
    if (!task) {
      parts.state.textContent = this.problem || "Loading…";
      parts.name.textContent = this.taskId;
      parts.badge.hidden = true;
      return;
    }
    this.#header(task);
    this.#timings(task, now);
    this.#fields(task);
    this.#attempts(task);
    this.#dependencies(task);
    parts.params.textContent = JSON.stringify(task.params ?? {}, null, 2);
    parts.errorSection.hidden = !task.error;
    parts.error.textContent = task.error ?? "";
    parts.raw.textContent = JSON.stringify(this.#wire(task), null, 2);
    this.#log(task);
  }

  #header(task) {
    const { parts } = this;
    const look = lookOf(task.status);
    parts.name.textContent = task.name || commandLine(task) || "Untitled task";
    parts.badge.hidden = false;
    parts.badge.className = `${BADGE} ${look.badge}`;
    parts.badge.dataset.status = task.status;
    parts.badgeLabel.textContent = look.label;
    parts.id.textContent = task.task_id;
  }

  #timings(task, now) {
    const created = time(task.created_at);
    const started = time(task.started_at);
    const finished = time(task.finished_at);
    const runAt = time(task.run_at);
    const rows = [["Queued", created, `waited ${formatDuration(((started ?? finished ?? now) - created) / 1000)}`]];
    if (runAt) rows.push(["Scheduled for", runAt, ""]);
    if (started) rows.push(["Started", started, `${finished ? "ran" : "running for"} ${formatDuration(((finished ?? now) - started) / 1000)}`]);
    if (finished) rows.push(["Finished", finished, `${formatDuration((finished - created) / 1000)} in all`]);
    this.parts.timings.replaceChildren(
      ...rows.flatMap(([label, ms, duration]) => {
        const at = el("time", "tabular", exactTime(ms));
        at.dateTime = new Date(ms).toISOString();
        const dd = el("dd", "min-w-0");
        dd.append(at);
        return [
          el("dt", "text-zinc-500 dark:text-zinc-400", label),
          dd,
          el("dd", "text-right text-zinc-500 tabular dark:text-zinc-400", duration),
        ];
      }),
    );
  }

  #fields(task) {
    const code = exitCode(task);
    const rows = [
      ["Status", lookOf(task.status).label],
      ["Kind", task.kind],
      ["Progress", `${Math.floor((task.progress ?? 0) * 100)}%`],
      ["Priority", String(task.priority)],
    ];
    if (task.executor) rows.push(["Executor", task.executor === "local" ? "local (this machine)" : task.executor]);
    if (task.executor && task.executor !== "local") rows.push(["Worker", task.worker ?? "not assigned yet"]);
    if (task.kind === "timer" && task.duration) rows.push(["Duration", formatDuration(task.duration)]);
    if (task.queue_position) rows.push(["In line", `#${task.queue_position}`]);
    if (code !== null) rows.push(["Exit code", code]);
    this.parts.fields.replaceChildren(
      ...rows.flatMap(([label, value]) => {
        const dd = el("dd", "min-w-0 break-words font-medium", value);
        dd.dataset.field = label.toLowerCase().replace(/\s+/g, "-");
        return [el("dt", "text-zinc-500 dark:text-zinc-400", label), dd];
      }),
    );
  }

  /** This task's place among the runs of the same work: what it retried, what retried it. */
  #attempts(task) {
    const chain = [task];
    for (let back = task; back.retry_of; chain.unshift(back)) {
      back = this.store.get(back.retry_of) ?? { task_id: back.retry_of }; // cleared: the chain stops
    }
    for (let next = this.#retryOf(task.task_id); next; next = this.#retryOf(next.task_id)) {
      chain.push(next);
    }
    const { parts } = this;
    parts.attemptsSection.hidden = chain.length < 2;
    parts.attemptsNote.textContent = `Attempt ${chain.indexOf(task) + 1} of ${chain.length}`;
    parts.attempts.replaceChildren(
      ...chain.map((run, i) => {
        const item = run === task ? el("li", "flex gap-2 font-medium") : taskLink(run.task_id, this.store);
        if (run === task) item.append(el("span", "font-mono", run.task_id.slice(0, 8)), el("span", "", "this one"));
        item.prepend(el("span", "w-5 shrink-0 text-right text-xs text-zinc-500 tabular dark:text-zinc-400", `${i + 1}.`));
        item.dataset.attempt = String(i + 1);
        return item;
      }),
    );
  }

  #retryOf(id) {
    for (const other of this.store.byId.values()) if (other.retry_of === id) return other;
    return null;
  }

  #dependencies(task) {
    const { parts, store } = this;
    const after = task.after ?? [];
    const waiting = [...store.byId.values()].filter((other) => other.after?.includes(task.task_id));
    parts.after.replaceChildren(...after.map((id) => taskLink(id, store)));
    parts.dependents.replaceChildren(...waiting.map((other) => taskLink(other.task_id, store)));
    parts.afterNone.hidden = after.length > 0;
    parts.dependentsNone.hidden = waiting.length > 0;
  }

  /** The wire task as the API gives it (the store adds parsed times). */
  #wire(task) {
    const wire = {};
    for (const [key, value] of Object.entries(task)) {
      if (!/Ms$|^nameLower$/.test(key)) wire[key] = value;
    }
    return wire;
  }

  /** The first 64 KB of a command's output, read again when its status changes. */
  async #log(task) {
    const { parts } = this;
    const has = task.kind !== "timer";
    parts.logSection.hidden = !has;
    if (!has) return;
    if (this.log.taskId === task.task_id && this.log.status === task.status) return;
    if (this.log.taskId !== task.task_id) parts.log.textContent = "Loading…";
    this.log = { taskId: task.task_id, status: task.status, text: "", more: false };
    const session = this.session;
    try {
      const chunk = await this.api.logs(task.task_id, 0, LOG_BYTES);
      if (session !== this.session) return;
      this.log.text = chunk.text;
      this.log.more = !chunk.complete && chunk.next_offset >= LOG_BYTES;
    } catch (error) {
      if (session !== this.session) return;
      this.log.text = `(could not read the log: ${error.message})`;
    }
    parts.log.textContent = this.log.text || "(no output)";
    parts.logMore.hidden = !this.log.more;
  }
}
