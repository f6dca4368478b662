// The status tabs (with their counters) and the search box, and the filtered list of ids
// they select. Filtering 10,000 tasks takes about a millisecond, so it simply re-runs when
// the store's membership or the filter changes, at most once a frame.

import { STATUSES } from "./status.js";

export class Filters {
  constructor({ tabs, search, onChange }) {
    this.status = "all";
    this.query = "";
    this.tabs = [...tabs.querySelectorAll("[role=tab]")];
    this.counters = new Map(this.tabs.map((tab) => [tab.dataset.status, tab.querySelector("[data-count]")]));
    this.search = search;
    this.onChange = onChange;
    this.cache = { key: null, ids: [] };

    tabs.addEventListener("click", (event) => {
      const tab = event.target.closest("[role=tab]");
      if (tab) this.select(tab.dataset.status);
    });
    tabs.addEventListener("keydown", (event) => this.#arrowKeys(event));
    search.addEventListener("input", () => {
      this.query = search.value.trim().toLowerCase();
      onChange();
    });
  }

  select(status, focus = false) {
    this.status = status;
    for (const tab of this.tabs) {
      const on = tab.dataset.status === status;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    }
    this.onChange();
  }

  clearSearch() {
    this.search.value = "";
    this.query = "";
    this.onChange();
  }

  /** Tabs are one tab stop; arrows, Home and End move between them (WAI-ARIA tabs pattern). */
  #arrowKeys(event) {
    const index = this.tabs.findIndex((tab) => tab.dataset.status === this.status);
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: this.tabs.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = (moves[event.key] + this.tabs.length) % this.tabs.length;
    this.select(this.tabs[next].dataset.status, true);
  }

  paintCounts(store) {
    const total = store.size;
    this.#count("all", total);
    for (const status of STATUSES) this.#count(status, store.counts[status]);
  }

  #count(status, n) {
    const el = this.counters.get(status);
    const text = n.toLocaleString();
    if (el && el.textContent !== text) el.textContent = text;
    el?.closest("[role=tab]").classList.toggle("opacity-50", n === 0 && status !== "all");
  }

  /** The ids to show: newest first, except the Queued tab, which lists the line in order. */
  ids(store) {
    const queue = this.status === "queued";
    const key = `${store.listVersion}|${queue ? store.queueVersion : ""}|${this.status}|${this.query}`;
    if (this.cache.key === key) return this.cache.ids;
    const { status, query } = this;
    let ids = store.order;
    if (status !== "all" || query) {
      ids = ids.filter((id) => {
        const task = store.get(id);
        if (status !== "all" && task.status !== status) return false;
        return !query || task.nameLower.includes(query) || id.startsWith(query);
      });
    }
    if (queue) {
      const positions = store.positions();
      ids = [...ids].sort((a, b) => positions.get(a) - positions.get(b));
    }
    this.cache = { key, ids };
    return ids;
  }

  get active() {
    return this.status !== "all" || this.query !== "";
  }
}
