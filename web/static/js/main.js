// The dashboard: wires the store, the live connection and the widgets, and paints at most
// once per animation frame however many messages arrive in between.

import { AddForm } from "./add-form.js";
import { api, ApiError } from "./api.js";
import { ApiPanel } from "./api-panel.js";
import { copyText } from "./clipboard.js";
import { ConnectionStatus } from "./connection-status.js";
import { EmptyState } from "./empty-state.js";
import { Filters } from "./filters.js";
import { LiveConnection } from "./live.js";
import { FINAL } from "./status.js";
import { TaskList } from "./task-list.js";
import { TaskStore } from "./tasks.js";
import { Toasts } from "./toasts.js";

const $ = (selector) => document.querySelector(selector);
const RELATIVE_TIME_REFRESH_MS = 5000;

const store = new TaskStore();
const toasts = new Toasts($("#toasts"), $("#toast-template"));

let framePending = false;
function requestPaint() {
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(paint);
}

const filters = new Filters({ tabs: $("#status-tabs"), search: $("#search"), onChange: requestPaint });
const list = new TaskList({
  table: $("#task-table"),
  viewport: $("#task-rows"),
  template: $("#row-template"),
  onAction: (action, id) => (action === "cancel" ? cancel(id) : copyId(id)),
});
const empty = new EmptyState($("#empty"), {
  onAction: (action) => (action === "clear-search" ? filters.clearSearch() : filters.select("all")),
});
const clearButton = $("#clear-finished");
let firstPaintDone = false;

function paint() {
  framePending = false;
  const now = Date.now();
  const ids = store.loaded ? filters.ids(store) : [];
  const animating = list.render(ids, store, now);
  filters.paintCounts(store);
  empty.show(
    EmptyState.describe({
      loaded: store.loaded,
      connection: connection.state,
      total: store.size,
      shown: ids.length,
      filters,
    }),
  );
  clearButton.disabled = ![...FINAL].some((status) => store.counts[status] > 0);
  if (store.loaded && !firstPaintDone) {
    firstPaintDone = true;
    performance.mark("tasks-rendered"); // read by bench/dashboard_render.py
  }
  if (animating) requestPaint(); // running bars move between server updates
}

// -- actions ------------------------------------------------------------------------------

async function cancel(id) {
  store.setCancelling(id, true);
  requestPaint();
  try {
    store.adopt(await api.cancelTask(id));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) store.remove([id]);
    toasts.error(error.message, "Could not cancel");
  } finally {
    store.setCancelling(id, false);
    requestPaint();
  }
}

async function copyId(id) {
  if (await copyText(id)) toasts.show(`Copied task id ${id.slice(0, 8)}…`);
}

clearButton.addEventListener("click", async () => {
  try {
    const { removed, task_ids: ids } = await api.clearFinished();
    store.remove(ids);
    toasts.show(removed === 1 ? "Removed 1 finished task" : `Removed ${removed} finished tasks`);
    requestPaint();
  } catch (error) {
    toasts.error(error.message, "Could not clear finished tasks");
  }
});

new AddForm($("#add-form"), {
  submit: (spec) => api.addTask(spec),
  onAdded: (task) => {
    store.adopt(task);
    requestPaint();
  },
});

const panel = new ApiPanel($("#api-panel"), { template: $("#command-template"), toasts });
$("#open-api").addEventListener("click", () => panel.open());

// "/" jumps to search, as on GitHub and Linear; Escape there clears it.
document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, textarea, select, [contenteditable]");
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    $("#search").focus();
  }
});
$("#search").addEventListener("keydown", (event) => {
  if (event.key === "Escape") filters.clearSearch();
});

// -- live updates -------------------------------------------------------------------------

const connection = new ConnectionStatus({
  pill: $("#connection"),
  announcer: $("#connection-announcer"),
  banner: $("#connection-banner"),
  onRetry: () => live.retryNow(),
});

const live = new LiveConnection({
  onMessage: (message) => {
    store.receive(message);
    requestPaint();
  },
  onState: (state, info) => {
    connection.set(state, info);
    requestPaint();
  },
  onFailure: async (failures) => {
    // A refused handshake looks like any dropped socket; ask the REST API which it is.
    if (failures < 2) return;
    try {
      await api.probe();
    } catch (error) {
      if (error.status === 401) connection.setAuthLost();
    }
  },
});

window.addEventListener("scroll", requestPaint, { passive: true });
window.addEventListener("resize", requestPaint);
setInterval(requestPaint, RELATIVE_TIME_REFRESH_MS);
live.start();
requestPaint();
