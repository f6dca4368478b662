// The queue bar: how many tasks run against the limit, what waits, the "max at once"
// stepper, pause/resume of the whole queue, and the banner that says the queue is paused.

const PIPS_UP_TO = 12; // a limit this small is drawn as slots; larger ones as a number
const PIP = "size-2 rounded-full";
const PIP_ON = `${PIP} bg-blue-500 dark:bg-blue-400`;
const PIP_OFF = `${PIP} bg-zinc-200 dark:bg-white/15`;

/** "", "∞" or "none" -> null (no limit); "4" -> 4; anything else -> undefined. */
export function parseLimit(text) {
  const value = text.trim().toLowerCase();
  if (value === "" || value === "∞" || value === "none") return null;
  return /^\d+$/.test(value) && Number(value) >= 1 ? Number(value) : undefined;
}

export class QueueBar {
  constructor(bar, banner, { api, store, toasts, onChange }) {
    this.bar = bar;
    this.banner = banner;
    this.api = api;
    this.store = store;
    this.toasts = toasts;
    this.onChange = onChange;
    const find = (name) => bar.querySelector(`[data-queue=${name}]`);
    this.parts = {
      running: find("running"),
      limit: find("limit"),
      pips: find("pips"),
      queued: find("queued"),
      scheduled: find("scheduled"),
      input: find("max"),
      fewer: find("fewer"),
      more: find("more"),
      toggle: find("toggle"),
      toggleLabel: find("toggle-label"),
      toggleIcon: find("toggle-icon"),
    };
    this.bannerText = banner.querySelector("[data-message]");
    this.painted = "";
    this.sending = Promise.resolve(); // changes go out one at a time, in order

    const { input, fewer, more, toggle } = this.parts;
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.#commit(input.value);
      } else if (event.key === "Escape") {
        this.#showLimit();
      } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
        event.preventDefault();
        this.#step(event.key === "ArrowUp" ? 1 : -1);
      }
    });
    input.addEventListener("change", () => this.#commit(input.value));
    fewer.addEventListener("click", () => this.#step(-1));
    more.addEventListener("click", () => this.#step(1));
    toggle.addEventListener("click", () => this.#toggle());
  }

  paint() {
    const { settings, counts } = this.store;
    const limit = settings.max_concurrent;
    const key = `${counts.running}|${counts.queued}|${counts.scheduled}|${limit}|${settings.queue_paused}`;
    if (key === this.painted) return;
    this.painted = key;
    const p = this.parts;
    p.running.textContent = counts.running.toLocaleString();
    p.limit.textContent = limit === null ? "no limit" : `of ${limit.toLocaleString()}`;
    this.#paintPips(counts.running, limit);
    p.queued.textContent = counts.queued.toLocaleString();
    p.scheduled.textContent = counts.scheduled.toLocaleString();
    if (document.activeElement !== p.input) this.#showLimit();
    p.fewer.disabled = limit === 1;
    p.more.disabled = limit === null;

    const paused = settings.queue_paused;
    this.bar.dataset.paused = String(paused);
    p.toggleLabel.textContent = paused ? "Resume queue" : "Pause queue";
    p.toggleIcon.firstElementChild.setAttribute("href", paused ? "#i-play" : "#i-pause-plain");
    const message = paused ? "Queue paused — nothing new will start." : "";
    this.banner.hidden = !paused;
    if (this.bannerText.textContent !== message) this.bannerText.textContent = message;
  }

  #paintPips(running, limit) {
    const pips = this.parts.pips;
    pips.hidden = limit === null || limit > PIPS_UP_TO;
    if (pips.hidden) return;
    const dots = [];
    for (let i = 0; i < limit; i++) {
      const dot = document.createElement("span");
      dot.className = i < running ? PIP_ON : PIP_OFF;
      dots.push(dot);
    }
    pips.replaceChildren(...dots);
  }

  #showLimit() {
    const limit = this.store.settings.max_concurrent;
    this.parts.input.value = limit === null ? "" : String(limit);
  }

  #step(delta) {
    const limit = this.store.settings.max_concurrent;
    if (limit === null) {
      // From "no limit", one fewer means: no more than what runs now.
      if (delta < 0) this.#send(Math.max(1, this.store.counts.running));
      return;
    }
    this.#send(Math.max(1, limit + delta));
  }

  #commit(text) {
    const limit = parseLimit(text);
    if (limit === undefined) {
      this.toasts.error("Enter a whole number of 1 or more, or leave it empty for no limit.", "Not a limit");
      this.#showLimit();
      return;
    }
    if (limit !== this.store.settings.max_concurrent) this.#send(limit);
  }

  #send(limit) {
    this.store.setSettings({ max_concurrent: limit }); // show it at once; the answer confirms
    this.painted = "";
    this.onChange();
    this.#queue(() => this.api.updateSettings({ max_concurrent: limit }), "Could not change the limit");
  }

  #toggle() {
    const paused = this.store.settings.queue_paused;
    this.#queue(
      () => (paused ? this.api.resumeQueue() : this.api.pauseQueue()),
      paused ? "Could not resume the queue" : "Could not pause the queue",
    );
  }

  #queue(call, failure) {
    this.sending = this.sending.then(async () => {
      try {
        this.store.setSettings(await call());
      } catch (error) {
        this.toasts.error(error.message, failure);
        // Undo what was shown ahead of the answer (if the server can still tell us).
        await this.api.settings().then((truth) => this.store.setSettings(truth), () => {});
      }
      this.painted = "";
      this.onChange();
    });
  }
}
