// The charts view (#charts): throughput over time, how long tasks ran, and their statuses, for
// a time range and the list's filters. The series come from GET /stats (counted by the
// server, never from every task here); after that each WebSocket delta moves the counts it
// touches, by taking away what the task's old version counted for and adding its new one
// (tally.js), so the charts stay live without fetching the series again. Only when the
// newest bucket rolls over (a minute, an hour) is the series fetched anew.
//
// uPlot (vendored in web/static/vendor/uplot) draws; it is loaded the first time the view opens.

import { LOOK, STATUSES } from "./status.js";
import { Tally } from "./tally.js";

const UPLOT = "../vendor/uplot/uPlot.esm.js";
const DARK = window.matchMedia("(prefers-color-scheme: dark)");
const LINES = [
  ["started", "Started", "#6366f1", "#818cf8"], // indigo 500 / 400 (dark)
  ["completed", "Completed", "#10b981", "#34d399"], // emerald
  ["failed", "Failed", "#ef4444", "#f87171"], // red
];
const BUCKET_WORDS = { minute: "per minute", hour: "per hour", day: "per day" };
// Each class by its upper bound (GET /stats's duration edges), short enough for 420 px.
const DURATION_LABELS = ["<1s", "<5s", "<15s", "<1m", "<5m", "<15m", "<1h", "<4h", "4h+"];

function put(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function theme() {
  const dark = DARK.matches;
  return {
    dark,
    axis: dark ? "#a1a1aa" : "#71717a", // zinc 400 / 500
    grid: dark ? "rgba(255,255,255,0.07)" : "rgba(24,24,27,0.07)",
  };
}

export class Charts {
  constructor(root, { api }) {
    this.root = root;
    this.api = api;
    this.active = false;
    this.range = "day";
    this.filters = { status: "", kind: "", search: "" };
    this.tally = null;
    this.pending = null; // deltas that arrive while the series is being fetched
    this.loading = 0;
    this.dirty = false;
    this.plots = {};
    const $ = (selector) => root.querySelector(selector);
    this.parts = {
      ranges: $("[data-charts=ranges]"),
      status: $("[data-charts=status]"),
      kind: $("[data-charts=kind]"),
      search: $("[data-charts=search]"),
      problem: $("[data-charts=problem]"),
      bucket: $("[data-charts=bucket]"),
      throughput: $("[data-chart=throughput]"),
      durations: $("[data-chart=durations]"),
      statuses: $("[data-chart=statuses]"),
      totals: Object.fromEntries([...root.querySelectorAll("[data-total]")].map((el) => [el.dataset.total, el])),
    };
    this.parts.ranges.addEventListener("click", (event) => {
      const button = event.target.closest("[data-range]");
      if (button) this.#setRange(button.dataset.range);
    });
    for (const name of ["status", "kind", "search"]) {
      this.parts[name].addEventListener(name === "search" ? "input" : "change", () => {
        this.filters[name] = this.parts[name].value.trim();
        this.load();
      });
    }
    DARK.addEventListener("change", () => this.#rebuild());
    const resized = new ResizeObserver(() => this.#resize());
    resized.observe(this.parts.throughput);
    resized.observe(this.parts.durations);
  }

  setKinds(kinds) {
    const chosen = this.parts.kind.value;
    const options = kinds.map((kind) => new Option(kind.name, kind.name));
    this.parts.kind.replaceChildren(new Option("Any", ""), ...options);
    this.parts.kind.value = chosen;
  }

  show() {
    this.root.hidden = false;
    if (this.active) return;
    this.active = true;
    this.load();
  }

  hide() {
    this.root.hidden = true;
    this.active = false;
    this.tally = null; // fetched afresh when the view comes back
  }

  /** Fetch the series; deltas that come meanwhile are kept and applied once it is here. */
  async load() {
    if (!this.active) return;
    const ticket = ++this.loading;
    this.pending = [];
    const query = { range: this.range };
    for (const [key, value] of Object.entries(this.filters)) if (value) query[key] = value;
    try {
      const [stats, uPlot] = await Promise.all([this.api.stats(query), this.#library()]);
      if (ticket !== this.loading) return;
      this.tally = new Tally(stats, this.filters, Date.now());
      for (const [message, before] of this.pending) {
        if (message.seq > stats.seq) this.tally.observe(message, before);
      }
      this.pending = null;
      this.uPlot = uPlot;
      this.parts.problem.hidden = true;
      this.#rebuild();
    } catch (error) {
      if (ticket !== this.loading) return;
      this.pending = null;
      this.parts.problem.hidden = false;
      put(this.parts.problem, `Could not load the charts: ${error.message}`);
    }
  }

  /**
   * A message from the socket, with the versions the page held before it of the tasks it
   * changes (`before`: id -> task, or undefined). Called only for news (seq not seen yet).
   */
  observe(message, before) {
    if (!this.active) return;
    if (message.type === "snapshot") return void this.load(); // a reconnect: start over
    if (this.pending) return void this.pending.push([message, before]);
    if (this.tally?.observe(message, before)) this.dirty = true;
  }

  /** Once a frame from the page's paint: redraw what changed; refetch when a bucket rolls over. */
  paint(now = Date.now()) {
    if (!this.active || !this.tally) return;
    if (this.tally.rolledOver(now) && this.pending === null) {
      this.load();
      return;
    }
    if (!this.dirty) return;
    this.dirty = false;
    this.#draw();
  }

  #setRange(range) {
    this.range = range;
    for (const button of this.parts.ranges.querySelectorAll("[data-range]")) {
      button.setAttribute("aria-checked", String(button.dataset.range === range));
    }
    this.load();
  }

  #library() {
    this.library ??= import(UPLOT).then((module) => module.default);
    return this.library;
  }

  /** New plots (a new series length, or the colour scheme changed), then the figures. */
  #rebuild() {
    if (!this.tally || !this.uPlot) return;
    for (const plot of Object.values(this.plots)) plot.destroy();
    const colours = theme();
    const axis = { stroke: colours.axis, grid: { stroke: colours.grid }, ticks: { stroke: colours.grid } };
    const { stats } = this.tally;
    const width = this.parts.throughput.clientWidth || 320;
    this.plots.throughput = new this.uPlot(
      {
        width,
        height: 220,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{ ...axis }, { ...axis, size: 40 }],
        series: [
          {},
          ...LINES.map(([, label, light, dark]) => ({
            label,
            stroke: colours.dark ? dark : light,
            width: 2,
            points: { show: stats.times.length <= 60 },
          })),
        ],
      },
      this.#throughputData(),
      this.parts.throughput,
    );
    this.plots.durations = new this.uPlot(
      {
        width: this.parts.durations.clientWidth || 320,
        height: 180,
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        legend: { show: false },
        scales: {
          x: { time: false, range: [-0.5, DURATION_LABELS.length - 0.5] },
          y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
        axes: [
          { ...axis, splits: () => DURATION_LABELS.map((_, i) => i), values: (_u, splits) => splits.map((i) => DURATION_LABELS[i] ?? ""), size: 36, font: "10px sans-serif" },
          { ...axis, size: 40 },
        ],
        series: [
          {},
          {
            label: "Tasks",
            fill: colours.dark ? "#818cf8" : "#6366f1",
            stroke: colours.dark ? "#818cf8" : "#6366f1",
            paths: this.uPlot.paths.bars({ size: [0.7, 48] }),
            points: { show: false },
          },
        ],
      },
      [DURATION_LABELS.map((_, i) => i), this.tally.durations],
      this.parts.durations,
    );
    // Tests and scripts read the figures the charts show from the elements themselves.
    this.parts.throughput.plot = this.plots.throughput;
    this.parts.durations.plot = this.plots.durations;
    put(this.parts.bucket, `(${BUCKET_WORDS[stats.bucket]})`);
    this.dirty = false;
    this.#draw();
  }

  #throughputData() {
    const { stats, series } = this.tally;
    return [stats.times, ...LINES.map(([key]) => series[key])];
  }

  /** The figures into the plots and the lists (the arrays are the tally's, updated in place). */
  #draw() {
    const { tally } = this;
    this.plots.throughput?.setData(this.#throughputData());
    this.plots.durations?.setData([DURATION_LABELS.map((_, i) => i), tally.durations]);
    for (const [key] of LINES) put(this.parts.totals[key], tally.total(key).toLocaleString());
    this.#statuses(tally.statuses);
    this.root.dataset.version = String(tally.version); // a change the tests can wait for
  }

  #statuses(counts) {
    const most = Math.max(1, ...Object.values(counts));
    const items = STATUSES.map((status) => {
      const n = counts[status] ?? 0;
      const item = document.createElement("li");
      item.className = "grid grid-cols-[6rem_minmax(0,1fr)_3rem] items-center gap-2 text-xs";
      item.dataset.status = status;
      const label = document.createElement("span");
      label.className = "text-zinc-600 dark:text-zinc-300";
      label.textContent = LOOK[status].label;
      const track = document.createElement("span");
      track.className = "h-2 overflow-hidden rounded-full bg-zinc-100 dark:bg-white/5";
      const bar = document.createElement("span");
      bar.className = `block h-full rounded-full ${LOOK[status].bar.replace("bar-sheen", "")}`;
      bar.style.width = `${(n / most) * 100}%`;
      track.append(bar);
      const count = document.createElement("span");
      count.className = "text-right font-medium tabular";
      count.dataset.count = "";
      count.textContent = n.toLocaleString();
      item.append(label, track, count);
      return item;
    });
    this.parts.statuses.replaceChildren(...items);
  }

  #resize() {
    for (const [name, plot] of Object.entries(this.plots)) {
      const width = this.parts[name].clientWidth;
      if (width && width !== plot.width) plot.setSize({ width, height: plot.height });
    }
  }
}
