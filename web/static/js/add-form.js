// The "new task" form: a kind (the timer unless another is picked), friendly durations
// ("90", "1m30s") or the other kind's own fields, an optional name, and an advanced part that
// stays folded for the simple case: priority, a delay or a start time, and the tasks to run
// after. Problems are shown next to the field they concern. While a Dask cluster is set,
// "Run on" picks this machine or the cluster (the settings' default until changed).

import { AfterPicker } from "./after-picker.js";
import { ApiError } from "./api.js";
import { formatDuration, parseDuration } from "./format.js";
import { KindFields } from "./kind-fields.js";

const MAX_DURATION = 7 * 24 * 3600;
const ADVANCED = ["priority", "delay", "run_at", "after"];
const FIELDS = ["duration", "name", ...ADVANCED];
// The first row's columns: the timer has its duration there, other kinds have fields below.
const TIMER_GRID = "grid grid-cols-[7.5rem_minmax(0,1fr)] gap-3 sm:grid-cols-[10rem_11rem_minmax(0,1fr)_auto] sm:items-start";
const KIND_GRID = "grid grid-cols-1 gap-3 sm:grid-cols-[10rem_minmax(0,1fr)_auto] sm:items-start";

/** "hash-folder" -> "Hash folder". */
const kindLabel = (name) => name.charAt(0).toUpperCase() + name.slice(1).replaceAll(/[-_]/g, " ");

export class AddForm {
  constructor(form, { submit, onAdded, store }) {
    this.form = form;
    this.submit = submit;
    this.onAdded = onAdded;
    this.fields = form.elements;
    this.error = form.querySelector("[data-form-error]");
    this.hint = form.querySelector("[data-duration-hint]");
    this.delayHint = form.querySelector("[data-delay-hint]");
    this.summary = form.querySelector("[data-advanced-summary]");
    this.details = form.querySelector("details");
    this.button = form.querySelector("button[type=submit]");
    this.grid = form.querySelector("[data-form-grid]");
    this.durationCell = form.querySelector("[data-duration-cell]");
    this.durationTip = form.querySelector("[data-duration-tip]");
    this.kindNote = form.querySelector("[data-kind-note]");
    this.kindFields = new KindFields(form.querySelector("[data-kind-fields]"));
    this.auth = form.dataset.auth === "true";
    this.executorCell = form.querySelector("[data-executor-cell]");
    this.executorChosen = false; // once the user picks, a change of the default leaves it be
    this.fields.executor.addEventListener("change", () => (this.executorChosen = true));
    this.kinds = new Map();
    this.fields.kind.addEventListener("change", () => this.#selectKind());
    this.after = new AfterPicker(form.querySelector("[data-after]"), {
      store,
      onChange: () => this.#paintSummary(),
      onError: (error) => this.#showError(error),
    });
    this.fields.duration.addEventListener("input", () => this.#previewDuration());
    this.fields.delay.addEventListener("input", () => this.#previewDelay());
    form.addEventListener("input", () => this.#paintSummary());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#send();
    });
  }

  /** The kinds from GET /kinds: the timer first, then the rest by name. */
  setKinds(kinds) {
    this.kinds = new Map(kinds.map((kind) => [kind.name, kind]));
    const select = this.fields.kind;
    const chosen = select.value;
    const names = kinds.map((kind) => kind.name).sort((a, b) => (a === "timer" ? -1 : b === "timer" ? 1 : a.localeCompare(b)));
    select.replaceChildren();
    for (const name of names) {
      const option = document.createElement("option");
      const locked = this.kinds.get(name).requires_token && !this.auth;
      option.value = name;
      option.textContent = locked ? `${kindLabel(name)} (needs a token)` : kindLabel(name);
      option.disabled = locked;
      select.append(option);
    }
    select.value = this.kinds.has(chosen) ? chosen : "timer";
    this.kindNote.hidden = this.auth || !kinds.some((kind) => kind.requires_token);
    this.#selectKind();
  }

  /** The dask executor from GET /executors (null: no cluster) and the settings' default. */
  setExecutors(dask, preferred) {
    this.executorCell.hidden = !dask;
    const option = this.fields.executor.querySelector("option[value=dask]");
    option.textContent = dask && !dask.connected ? "Dask cluster (not connected)" : "Dask cluster";
    if (!this.executorChosen || !dask) this.fields.executor.value = dask ? preferred : "local";
  }

  #selectKind() {
    const name = this.fields.kind.value;
    const timer = name === "timer" || !this.kinds.has(name);
    this.grid.className = timer ? TIMER_GRID : KIND_GRID;
    this.durationCell.hidden = !timer;
    this.durationTip.hidden = !timer;
    this.kindFields.show(timer ? null : this.kinds.get(name));
    this.#showError(null);
  }

  #previewDuration() {
    const text = this.fields.duration.value;
    const seconds = parseDuration(text);
    this.#markInvalid([]);
    this.hint.textContent =
      seconds === null ? (text.trim() ? "Try 90, 1m30s, 2h or 1:30" : "") : `= ${formatDuration(seconds)}`;
  }

  #previewDelay() {
    const text = this.fields.delay.value;
    const seconds = parseDuration(text);
    this.#markInvalid([]);
    this.delayHint.textContent = !text.trim()
      ? "Empty starts it now."
      : seconds === null
        ? "Try 30s, 5m or 1h30m"
        : `Starts ${formatDuration(seconds)} after adding.`;
  }

  /** What the folded advanced part holds, so nothing set there is out of sight. */
  #paintSummary() {
    const { priority, delay, run_at: runAt } = this.fields;
    const bits = [];
    if (priority.value.trim() && Number(priority.value) !== 0) bits.push(`priority ${priority.value.trim()}`);
    const wait = parseDuration(delay.value);
    if (wait) bits.push(`starts in ${formatDuration(wait)}`);
    if (runAt.value) bits.push(`starts ${runAt.value.replace("T", " ")}`);
    const deps = this.after.ids.length;
    if (deps) bits.push(`after ${deps === 1 ? "1 task" : `${deps} tasks`}`);
    this.summary.textContent = bits.join(" · ");
    this.summary.hidden = bits.length === 0;
  }

  /** The kind and its parameters: the timer's duration, or the fields of another kind. */
  #kindSpec() {
    const kind = this.fields.kind.value;
    if (kind !== "timer" && this.kinds.has(kind)) return { kind, ...this.kindFields.values() };
    const seconds = parseDuration(this.fields.duration.value);
    if (seconds === null) {
      throw new ApiError("Enter a duration such as 90, 1m30s or 2h.", 0, ["duration"]);
    }
    if (seconds <= 0 || seconds > MAX_DURATION) {
      throw new ApiError("The duration must be more than 0 and at most 7 days.", 0, ["duration"]);
    }
    return { duration: seconds };
  }

  /** The request body, or throws ApiError naming the field to fix. */
  #spec() {
    const { name, priority, delay, run_at: runAt } = this.fields;
    const spec = this.#kindSpec();
    if (name.value.trim()) spec.name = name.value.trim();
    if (!this.executorCell.hidden) spec.executor = this.fields.executor.value;
    if (priority.value.trim()) {
      const rank = Number(priority.value);
      if (!Number.isInteger(rank) || Math.abs(rank) > 1000) {
        throw new ApiError("The priority is a whole number from -1000 to 1000.", 0, ["priority"]);
      }
      spec.priority = rank;
    }
    if (delay.value.trim() && runAt.value) {
      throw new ApiError("Give a delay or a start time, not both.", 0, ["delay", "run_at"]);
    }
    if (delay.value.trim()) {
      const wait = parseDuration(delay.value);
      if (wait === null) throw new ApiError("Enter a delay such as 30s or 5m.", 0, ["delay"]);
      spec.delay = wait;
    }
    if (runAt.value) {
      // datetime-local is the user's local time; the server wants an absolute instant.
      const when = new Date(runAt.value);
      if (Number.isNaN(when.getTime())) throw new ApiError("Pick a start time.", 0, ["run_at"]);
      spec.run_at = when.toISOString();
    }
    const after = this.after.values();
    if (after.length) spec.after = after;
    return spec;
  }

  async #send() {
    this.#showError(null);
    let spec;
    try {
      spec = this.#spec();
    } catch (error) {
      this.#showError(error);
      return;
    }
    this.button.disabled = true;
    this.form.setAttribute("aria-busy", "true");
    try {
      const task = await this.submit(spec);
      // One-off choices go; duration and priority stay for the next task of the same sort.
      for (const field of ["name", "delay", "run_at"]) this.fields[field].value = "";
      this.after.clear();
      this.#previewDelay();
      this.#paintSummary();
      this.onAdded(task);
    } catch (error) {
      this.#showError(error);
    } finally {
      this.button.disabled = false;
      this.form.removeAttribute("aria-busy");
    }
  }

  #showError(error) {
    this.error.textContent = error ? error.message : "";
    this.error.hidden = !error;
    // A 422 names e.g. "after.0" or "run_at": the form field is the first part.
    const fields = (error?.fields ?? []).map((f) => f.split(".")[0]);
    this.#markInvalid(fields);
    // The server's word goes under the kind's fields; our own checks marked theirs already.
    if (!error || error.status) this.kindFields.showProblems(error?.messages ?? {});
    if (fields.some((f) => ADVANCED.includes(f))) this.details.open = true;
    const first = fields.map((f) => this.kindFields.input(f) ?? this.fields[f]).find(Boolean);
    first?.focus();
  }

  #markInvalid(fields) {
    for (const name of FIELDS) {
      const field = this.fields[name];
      if (fields.includes(name)) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    }
  }
}
