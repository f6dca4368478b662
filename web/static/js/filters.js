// The status tabs (with their counters) and the search box. The server filters (the list
// pages from it: task-pages.js); onChange says the choice changed.

import { STATUSES } from "./status.js";

export class Filters {
  constructor({ tabs, search, onChange }) {
    this.status = "all";
    this.query = "";
    this.tabs = [...tabs.querySelectorAll("[role=tab]")];
    this.counters = new Map(this.tabs.map((tab) => [tab.dataset.status, tab.querySelector("[data-count]")]));
    this.search = search;
    this.onChange = onChange;

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

  get active() {
    return this.status !== "all" || this.query !== "";
  }
}
