// "Run after": the tasks a new task waits for, shown as removable chips. Pick one of the
// unfinished tasks from the suggestions (a native datalist), or type or paste ids: whole
// ids, unique prefixes of at least 4 characters, or a task's exact name.

import { ApiError } from "./api.js";
import { FINAL } from "./status.js";

const SVG = "http://www.w3.org/2000/svg";
const SUGGESTED = 100; // the newest unfinished tasks offered in the list
const MIN_PREFIX = 4;
const WHOLE_ID = /^[0-9a-f]{32}$/;
const CHIP =
  "inline-flex max-w-full items-center gap-1 rounded-md bg-indigo-50 py-0.5 pr-0.5 pl-1.5 text-xs font-medium text-indigo-700 ring-1 ring-indigo-600/20 ring-inset dark:bg-indigo-400/10 dark:text-indigo-300 dark:ring-indigo-400/25";
const CHIP_REMOVE =
  "rounded p-0.5 hover:bg-indigo-100 focus-visible:outline-2 focus-visible:outline-indigo-500 dark:hover:bg-indigo-400/20";

function icon(name, size) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", size);
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#${name}`);
  svg.append(use);
  return svg;
}

export class AfterPicker {
  constructor(box, { store, onChange, onError }) {
    this.store = store;
    this.onChange = onChange; // the chosen tasks changed
    this.onError = onError; // what was typed names no task
    this.input = box.querySelector("input");
    this.chips = box.querySelector("[data-chips]");
    this.options = document.getElementById(this.input.getAttribute("list"));
    this.ids = [];

    this.input.addEventListener("focus", () => this.#suggest());
    this.input.addEventListener("input", (event) => {
      // Picking a suggestion replaces the text in one go; typing does not.
      if (event.inputType === "insertReplacementText" || event.inputType === undefined) {
        if (this.store.get(this.input.value.trim())) this.#tryCommit();
      }
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && this.input.value.trim()) {
        event.preventDefault(); // Enter here adds a chip; it does not submit the form
        this.#tryCommit();
      } else if (event.key === "Backspace" && !this.input.value && this.ids.length) {
        this.#remove(this.ids.at(-1));
      }
    });
    this.chips.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-remove]");
      if (!button) return;
      this.#remove(button.dataset.remove);
      this.input.focus();
    });
  }

  /** The ids to run after, including any still typed in the box; throws ApiError if a word
   * names no task. */
  values() {
    this.commit();
    return [...this.ids];
  }

  /** Turn the typed text into chips, or throw ApiError({fields: ["after"]}). */
  commit() {
    const text = this.input.value.trim();
    if (!text) return;
    // The whole text (a name with spaces, one id), else each word of a pasted list of ids.
    const whole = this.#resolve(text);
    const words = whole ? [text] : text.split(/[\s,;]+/).filter(Boolean);
    const ids = words.map((word) => whole ?? this.#resolve(word));
    const unknown = words.filter((_, i) => !ids[i]);
    if (unknown.length) {
      const what = unknown.length === words.length ? text : unknown[0];
      throw new ApiError(`No task matches “${what}”: paste its id, or pick one from the list.`, 0, ["after"]);
    }
    for (const id of ids) if (!this.ids.includes(id)) this.ids.push(id);
    this.input.value = "";
    this.#paint();
  }

  clear() {
    this.ids = [];
    this.input.value = "";
    this.#paint();
  }

  #tryCommit() {
    try {
      this.commit();
      this.input.removeAttribute("aria-invalid");
    } catch (error) {
      this.onError(error);
    }
  }

  #resolve(word) {
    // A whole id is taken as it is: the page holds only the newest tasks and those it has
    // shown, and the server says so if no task has it.
    if (this.store.get(word) || WHOLE_ID.test(word)) return word;
    const lower = word.toLowerCase();
    const matches = (keep) => {
      const found = [];
      for (const id of this.store.order) {
        if (keep(id)) found.push(id);
        if (found.length > 1) break;
      }
      return found.length === 1 ? found[0] : null;
    };
    if (lower.length >= MIN_PREFIX) {
      const byPrefix = matches((id) => id.startsWith(lower));
      if (byPrefix) return byPrefix;
    }
    return matches((id) => this.store.get(id).nameLower === lower);
  }

  #remove(id) {
    this.ids = this.ids.filter((other) => other !== id);
    this.#paint();
  }

  #suggest() {
    const options = [];
    for (const id of this.store.order) {
      const task = this.store.get(id);
      if (FINAL.has(task.status) || this.ids.includes(id)) continue;
      const option = document.createElement("option");
      option.value = id;
      option.label = `${task.name || "Untitled task"} · ${task.status}`;
      options.push(option);
      if (options.length === SUGGESTED) break;
    }
    this.options.replaceChildren(...options);
  }

  #paint() {
    const chips = this.ids.map((id) => {
      const task = this.store.get(id);
      const label = task?.name || "Untitled task";
      const chip = document.createElement("span");
      chip.className = CHIP;
      chip.title = id;
      const name = document.createElement("span");
      name.className = "truncate";
      name.textContent = label;
      const short = document.createElement("span");
      short.className = "font-mono opacity-70";
      short.textContent = id.slice(0, 8);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = CHIP_REMOVE;
      remove.dataset.remove = id;
      remove.setAttribute("aria-label", `Do not wait for ${label} (${id.slice(0, 8)})`);
      remove.append(icon("i-close", "size-3"));
      chip.append(name, short, remove);
      return chip;
    });
    this.chips.replaceChildren(...chips);
    this.onChange();
  }
}
