// The dashboard: wires the store, the live connection and the widgets, and paints at most
// once per animation frame however many messages arrive in between.

import { AddForm } from "./add-form.js";
import { api, ApiError } from "./api.js";
import { ApiPanel } from "./api-panel.js";
import { Charts } from "./charts.js";
import { copyText } from "./clipboard.js";
import { ClusterBar } from "./cluster-bar.js";
import { ConnectionStatus } from "./connection-status.js";
import { EmptyState } from "./empty-state.js";
import { ExecutorDialog } from "./executor-dialog.js";
import { ExportMenu } from "./export-menu.js";
import { Filters } from "./filters.js";
import { LiveConnection } from "./live.js";
import { LogPanel } from "./log-panel.js";
import { WebNotices } from "./notifications.js";
import { NotifyDialog } from "./notify-dialog.js";
import { PriorityDialog } from "./priority-dialog.js";
import { QueueBar } from "./queue-bar.js";
import { leaveTask, parseRoute, taskHash } from "./router.js";
import { FINAL } from "./status.js";
import { TaskDetail } from "./task-detail.js";
import { TaskList } from "./task-list.js";
import { TaskPages } from "./task-pages.js";
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

const pages = new TaskPages({ api, store, onChange: requestPaint });
const filters = new Filters({
  tabs: $("#status-tabs"),
  search: $("#search"),
  onChange: () => {
    pages.setFilter(filters.status, filters.query);
    requestPaint();
  },
});
const list = new TaskList({
  table: $("#task-table"),
  viewport: $("#task-rows"),
  template: $("#row-template"),
  onAction: (action, id) => act(action, id),
});
const empty = new EmptyState($("#empty"), {
  onAction: (action) => (action === "clear-search" ? filters.clearSearch() : filters.select("all")),
});
const clearButton = $("#clear-finished");
const tasksView = $("#tasks-view");
let firstPaintDone = false;

function paint() {
  framePending = false;
  const now = Date.now();
  const ids = store.loaded ? pages : [];
  // Not while the charts hide the list: rows measured there would be zero pixels high.
  const animating = tasksView.hidden ? false : list.render(ids, store, now);
  filters.paintCounts(store);
  queueBar.paint();
  logPanel.paint();
  empty.show(
    EmptyState.describe({
      // Until a new filter's first answer, the last filter's rows stay in view.
      loaded: store.loaded && (pages.loaded || pages.length > 0),
      connection: connection.state,
      total: store.size,
      shown: ids.length,
      filters,
    }),
  );
  clearButton.disabled = ![...FINAL].some((status) => store.counts[status] > 0);
  exportMenu.update(filters);
  detail.paint(now);
  charts.paint(now);
  if (store.loaded && !firstPaintDone) {
    firstPaintDone = true;
    performance.mark("tasks-rendered"); // read by bench/dashboard_render.py
  }
  if (animating) requestPaint(); // running bars move between server updates
}

// -- actions ------------------------------------------------------------------------------

// The row buttons. Each call's answer is adopted (a retry's new task shows at once); the
// socket brings every other change. A refusal (e.g. the task finished meanwhile) is a toast.
const ROW_ACTIONS = {
  cancel: { call: api.cancelTask, failure: "Could not cancel" },
  pause: { call: api.pauseTask, failure: "Could not pause" },
  resume: { call: api.resumeTask, failure: "Could not resume" },
  retry: {
    call: api.retryTask,
    failure: "Could not retry",
    done: (task) => toasts.show(`Retrying as ${task.task_id.slice(0, 8)}`),
  },
  front: {
    call: (id) => api.reprioritize(id, { front: true }),
    failure: "Could not move to the front",
    done: (task) => toasts.show(`Moved ${task.name || task.task_id.slice(0, 8)} to the front`),
  },
};

async function act(action, id) {
  if (action === "detail") return void (location.hash = taskHash(id));
  if (action === "copy") return copyId(id);
  if (action === "rank") return priorityDialog.open(id);
  if (action === "logs") return logPanel.open(id);
  const { call, failure, done } = ROW_ACTIONS[action];
  store.setBusy(id, action);
  requestPaint();
  try {
    const task = await call(id);
    store.adopt(task);
    done?.(task);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) store.remove([id]);
    toasts.error(error.message, failure);
  } finally {
    store.setBusy(id, null);
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

const queueBar = new QueueBar($("#queue-bar"), $("#queue-banner"), {
  api,
  store,
  toasts,
  onChange: requestPaint,
});

const priorityDialog = new PriorityDialog($("#priority-dialog"), {
  store,
  submit: async (id, change) => {
    await api.reprioritize(id, change);
    toasts.show(change.front ? "Moved to the front" : `Priority set to ${change.priority}`);
  },
});

const addForm = new AddForm($("#add-form"), {
  store,
  submit: (spec) => api.addTask(spec),
  onAdded: (task) => {
    store.adopt(task);
    requestPaint();
  },
});
api.kinds().then(
  (kinds) => {
    addForm.setKinds(kinds);
    store.setKinds(kinds);
    charts.setKinds(kinds);
    requestPaint();
  },
  (error) => toasts.error(error.message, "Could not load the task kinds"),
);

const logPanel = new LogPanel($("#log-panel"), {
  api,
  store,
  toasts,
  send: (message) => live.send(message),
});

const exportMenu = new ExportMenu($("#export-menu"));

// -- views: the list (with a task's record over it) and the charts, by the URL's hash ------

const detail = new TaskDetail($("#task-detail"), {
  api,
  store,
  openLog: (id) => logPanel.open(id),
  onClose: () => leaveTask(route),
});
const charts = new Charts($("#charts-view"), { api });

function route() {
  const { view, taskId } = parseRoute(location.hash);
  tasksView.hidden = view !== "tasks";
  if (view === "charts") charts.show();
  else charts.hide();
  for (const link of document.querySelectorAll("[data-view-link]")) {
    if (link.dataset.viewLink === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (taskId) detail.open(taskId);
  else detail.close();
  requestPaint();
}
window.addEventListener("hashchange", route);

const panel = new ApiPanel($("#api-panel"), { template: $("#command-template"), toasts });
$("#open-api").addEventListener("click", () => panel.open());

// -- where tasks run: the cluster's line, its settings, the add form's choice ---------------

const executorDialog = new ExecutorDialog($("#executor-dialog"), { api, store, onChange: requestPaint });
const clusterBar = new ClusterBar($("#cluster-bar"), {
  api,
  onChange: () => addForm.setExecutors(clusterBar.dask, store.settings.executor ?? "local"),
});
for (const button of document.querySelectorAll("[data-open-executors]")) {
  button.addEventListener("click", () => executorDialog.open());
}

/** Settings and executors afresh: at each (re)connection, since changes made while away
 * come as no message. */
async function loadExecutors() {
  try {
    store.setSettings(await api.settings());
    executorDialog.refresh();
    await clusterBar.reload();
  } catch (error) {
    toasts.error(error.message, "Could not load the executors");
  }
}

/** A settings message about the executors: a new scheduler means a new cluster to show. */
function executorSettingsChanged(changed) {
  executorDialog.refresh();
  clusterBar.onChange();
  if ("scheduler" in changed) clusterBar.reload().catch(() => {}); // the next snapshot retries
}

const notifyDialog = new NotifyDialog($("#notify-dialog"), { api, store, onChange: requestPaint });
$("#open-notify").addEventListener("click", () => notifyDialog.open());
// A click on a notification shows its task (the page's #task/ID route).
const notices = new WebNotices({ store, onOpen: (id) => (location.hash = `task/${id}`) });

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
    if (message.type === "log" || message.type === "error") return logPanel.receive(message);
    if (message.type === "executors") return clusterBar.receive(message);
    // The charts count a change by what the task was before it and is after it.
    const news = message.type === "snapshot" || message.seq > store.seq;
    const before = news ? previousVersions(message) : null;
    notices.see(message); // before the store takes it: it tells an end from old news
    store.receive(message);
    if (news) charts.observe(message, before);
    if (message.type === "snapshot") {
      logPanel.resume(); // a new connection follows nothing yet
      loadExecutors();
    }
    if (message.type === "settings" && ("executor" in message.settings || "scheduler" in message.settings)) {
      executorSettingsChanged(message.settings);
    }
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

/** id -> the page's version of each task a message changes, before it does. */
function previousVersions(message) {
  const ids = message.type === "task" ? [message.task.task_id] : (message.task_ids ?? []);
  return new Map(ids.filter((id) => store.get(id)).map((id) => [id, store.get(id)]));
}

window.addEventListener("scroll", requestPaint, { passive: true });
window.addEventListener("resize", requestPaint);
setInterval(requestPaint, RELATIVE_TIME_REFRESH_MS);
live.start();
route();
