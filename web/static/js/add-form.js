// The "new task" form: friendly durations ("90", "1m30s"), an optional name, and an advanced
// part (priority, delay). Problems are shown next to the field they concern.

import { ApiError } from "./api.js";
import { formatDuration, parseDuration } from "./format.js";

const MAX_DURATION = 7 * 24 * 3600;

export class AddForm {
  constructor(form, { submit, onAdded }) {
    this.form = form;
    this.submit = submit;
    this.onAdded = onAdded;
    this.fields = form.elements;
    this.error = form.querySelector("[data-form-error]");
    this.hint = form.querySelector("[data-duration-hint]");
    this.button = form.querySelector("button[type=submit]");
    this.fields.duration.addEventListener("input", () => this.#previewDuration());
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

  /** The request body, or throws ApiError naming the field to fix. */
  #spec() {
    const { duration, name, priority, delay } = this.fields;
    const seconds = parseDuration(duration.value);
    if (seconds === null) {
      throw new ApiError("Enter a duration such as 90, 1m30s or 2h.", 0, ["duration"]);
    }
    if (seconds <= 0 || seconds > MAX_DURATION) {
      throw new ApiError("The duration must be more than 0 and at most 7 days.", 0, ["duration"]);
    }
    const spec = { duration: seconds };
    if (name.value.trim()) spec.name = name.value.trim();
    if (priority.value.trim()) spec.priority = Number(priority.value);
    if (delay.value.trim()) {
      const wait = parseDuration(delay.value);
      if (wait === null) throw new ApiError("Enter a delay such as 30s or 5m.", 0, ["delay"]);
      spec.delay = wait;
    }
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
      this.fields.name.value = "";
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
    this.#markInvalid(error?.fields ?? []);
    // Priority and delay live in the disclosure: open it when they are the problem.
    if (error?.fields.some((f) => f === "priority" || f === "delay")) {
      this.form.querySelector("details").open = true;
    }
    const first = error?.fields.map((f) => this.fields[f]).find(Boolean);
    first?.focus();
  }

  #markInvalid(fields) {
    for (const name of ["duration", "name", "priority", "delay"]) {
      const field = this.fields[name];
      if (fields.includes(name)) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    }
  }
}
