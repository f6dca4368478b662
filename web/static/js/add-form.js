// The "new task" form: friendly durations ("90", "1m30s"), an optional name, and an advanced
// part that stays folded for the simple case: priority, a delay or a start time, and the
// tasks to run after. Problems are shown next to the field they concern.

import { AfterPicker } from "./after-picker.js";
import { ApiError } from "./api.js";
import { formatDuration, parseDuration } from "./format.js";

const MAX_DURATION = 7 * 24 * 3600;
const ADVANCED = ["priority", "delay", "run_at", "after"];
const FIELDS = ["duration", "name", ...ADVANCED];

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

  /** The request body, or throws ApiError naming the field to fix. */
  #spec() {
    const { duration, name, priority, delay, run_at: runAt } = this.fields;
    const seconds = parseDuration(duration.value);
    if (seconds === null) {
      throw new ApiError("Enter a duration such as 90, 1m30s or 2h.", 0, ["duration"]);
    }
    if (seconds <= 0 || seconds > MAX_DURATION) {
      throw new ApiError("The duration must be more than 0 and at most 7 days.", 0, ["duration"]);
    }
    const spec = { duration: seconds };
    if (name.value.trim()) spec.name = name.value.trim();
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
    if (fields.some((f) => ADVANCED.includes(f))) this.details.open = true;
    const first = fields.map((f) => this.fields[f]).find(Boolean);
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
