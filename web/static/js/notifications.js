// Web notifications when a task ends, in a browser tab, as the notify settings say
// (GET/PUT /settings: which ends, and the shortest task worth one). The desktop app's own
// window stays quiet: the app tells through the system's notifications there
// (web/notices.py), and one end should not be told twice. The words match the app's.

import { formatDuration } from "./format.js";
import { commandLine } from "./shell-words.js";
import { FINAL } from "./status.js";

const OUTCOME = {
  completed: "completed",
  failed: "failed",
  cancelled: "was cancelled",
  interrupted: "was interrupted",
};

/** Inside the desktop app's window: pywebview puts its bridge on `window`. */
export const inDesktopWindow = () => "pywebview" in window;

/** Who shows notifications here: "desktop", "unsupported", or the browser's permission
 * ("granted", "denied", "default": not asked yet). */
export function notifyPermission() {
  if (inDesktopWindow()) return "desktop";
  if (!("Notification" in window)) return "unsupported";
  return Notification.permission;
}

/** Whether an end is worth telling, as the settings say (web/notify_prefs.py decides alike). */
export function wanted(settings, outcome, seconds) {
  const mode = settings.notify ?? "all";
  if (mode === "never" || (mode === "failures" && outcome !== "failed")) return false;
  return seconds >= (settings.notify_min_seconds ?? 0);
}

/** {title, body, seconds} for a task that ended (web/notices.py's Notice says the same). */
export function describeEnd(task) {
  const started = task.started_at ? Date.parse(task.started_at) : null;
  const finished = task.finished_at ? Date.parse(task.finished_at) : null;
  const seconds = started === null || finished === null ? 0 : Math.max(0, (finished - started) / 1000);
  const label =
    task.name || commandLine(task).split(/\s+/).join(" ").trim() || `Task ${task.task_id.slice(0, 8)}`;
  const ran = seconds ? `after ${formatDuration(seconds)}` : "before it started";
  const firstLine = (task.error ?? "").trim().split("\n")[0];
  const outcome = task.status[0].toUpperCase() + task.status.slice(1);
  return {
    title: `${label} ${OUTCOME[task.status]}`,
    body: `${outcome} ${ran}${firstLine ? `: ${firstLine}` : ""}`,
    seconds,
  };
}

export class WebNotices {
  constructor({ store, onOpen }) {
    this.store = store;
    this.onOpen = onOpen; // (taskId) -> show that task
  }

  /**
   * A server message, before the store takes it: a delta that ends a task this page knew
   * unfinished (or never saw) is news. Snapshots are not: what ended while the page was
   * away, or before it opened, is history.
   */
  see(message) {
    if (message.type !== "task" || !this.store.loaded || message.seq <= this.store.seq) return;
    const task = message.task;
    if (!FINAL.has(task.status)) return;
    const known = this.store.get(task.task_id);
    if (known && FINAL.has(known.status)) return; // e.g. this page's own cancel, answered first
    if (notifyPermission() !== "granted") return;
    const end = describeEnd(task);
    if (!wanted(this.store.settings, task.status, end.seconds)) return;
    // The tag: several tabs on one dashboard show one notification, not one each.
    const shown = new Notification(end.title, { body: end.body, tag: task.task_id });
    shown.addEventListener("click", () => {
      window.focus();
      this.onOpen(task.task_id);
      shown.close();
    });
  }
}
