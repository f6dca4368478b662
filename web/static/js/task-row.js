// Paints one task into one row element. Rows are recycled by the list, so painting is
// idempotent and writes to the DOM only what changed since the row's last paint.

import { exactTime, formatClock, formatDuration, relativeTime, shortAddress } from "./format.js";
import { taskHash } from "./router.js";
import { commandLine } from "./shell-words.js";
import { CANCELLABLE, FINAL, lookOf, WAITING } from "./status.js";

const BADGE = "inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset";
const BAR = "block h-full w-full origin-left rounded-full";
// A task that has not reported any progress yet: a sliding bar, and the time it has run.
const BAR_UNKNOWN = "block h-full w-2/5 rounded-full bar-indeterminate bg-blue-500 dark:bg-blue-400";
// What the badge says while an action on the row is in flight.
const BUSY_LABEL = { cancel: "Cancelling…", pause: "Pausing…", resume: "Resuming…" };

/**
 * Timer tasks report progress now and then; between reports the bar keeps moving from the
 * last report at the timer's pace, never behind the server's figure and never done early.
 * (Not from started_at: a task that was paused has run for less than the time since.)
 */
export function liveProgress(task, now, frozen) {
  if (frozen || task.status !== "running" || task.kind !== "timer" || !task.duration) {
    return task.progress;
  }
  const guess = task.progress + (now - task.receivedMs) / 1000 / task.duration;
  return Math.max(task.progress, Math.min(guess, 0.999));
}

const shortId = (id) => id.slice(0, 8);
const labelOf = (task) => task.name || commandLine(task) || `task ${task.task_id}`;

/** Running without a percentage yet: only kinds other than the timer (which always knows). */
export function indeterminate(task) {
  return task.status === "running" && task.kind !== "timer" && !task.progress;
}

/** Where a task runs, for any executor but this machine: "dask", then "dask · host:port"
 * once a worker has it. Null for local tasks (the usual case needs no word). */
export function placeOf(task) {
  if (!task.executor || task.executor === "local") return null;
  return task.worker ? `${task.executor} · ${shortAddress(task.worker)}` : task.executor;
}

const elapsed = (task, now) => formatClock((now - task.startedMs) / 1000);

/** The first task this one runs after that has not completed yet (ids of unknown ones too). */
function blocker(task, store) {
  return task.after?.find((id) => store.get(id)?.status !== "completed");
}

/** [text, hover title] under the progress bar. */
function progressNote(task, progress, now, view) {
  switch (task.status) {
    case "running":
      if (task.kind === "timer") return [`${formatClock(task.duration * (1 - progress))} left`, ""];
      return task.startedMs && !indeterminate(task) ? [`${elapsed(task, now)} elapsed`, ""] : ["", ""];
    case "queued":
      return [view.queuePaused ? "Queue paused" : "Waiting for a slot", ""];
    case "paused":
      return ["Paused", ""];
    case "scheduled": {
      if (task.runAtMs && task.runAtMs > now) {
        return [`Starts ${relativeTime(task.runAtMs, now)}`, exactTime(task.runAtMs)];
      }
      const dep = blocker(task, view.store);
      if (!dep) return ["Waiting", ""];
      const names = task.after.map((id) => {
        const other = view.store.get(id);
        return other?.name ? `${other.name} (${shortId(id)})` : shortId(id);
      });
      return [`Waiting for ${shortId(dep)}`, `Runs after ${names.join(", ")}`];
    }
    case "completed":
      return [task.startedMs ? `Took ${formatDuration((task.finishedMs - task.startedMs) / 1000)}` : "", ""];
    case "cancelled":
      return [task.startedMs ? `Ran ${formatDuration((task.finishedMs - task.startedMs) / 1000)}` : "Never started", ""];
    default:
      // A command's error is its exit code and last lines: the first line fits, hover for all.
      return [task.error?.split("\n")[0] ?? "", task.error ?? ""];
  }
}

function whenNote(task, now) {
  if (task.finishedMs) return `finished ${relativeTime(task.finishedMs, now)}`;
  if (task.startedMs) return `started ${relativeTime(task.startedMs, now)}`;
  return `added ${relativeTime(task.createdMs, now)}`;
}

/** Text and attributes are only written when they differ: most frames change nothing. */
function put(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function putTitle(el, title) {
  if (el.title !== title) el.title = title;
}

function show(el, on) {
  if (el.hidden === on) el.hidden = !on;
}

function putTime(el, ms, now) {
  put(el, ms ? relativeTime(ms, now) : "—");
  const title = ms ? exactTime(ms) : "";
  if (el.title !== title) {
    el.title = title;
    if (ms) el.dateTime = new Date(ms).toISOString();
    else el.removeAttribute("datetime");
  }
}

/**
 * view: {store, busy (the action in flight for this task, or null), position (live place in
 * line, queued tasks only), queuePaused}.
 */
export function paintRow(row, task, now, view) {
  const parts = row.parts;
  const resumable = view.store.resumable;
  if (row.task !== task || row.busy !== view.busy || row.resumable !== resumable) {
    paintIdentity(row, parts, task, view.busy, resumable);
    row.task = task;
    row.busy = view.busy;
    row.resumable = resumable;
  }
  const frozen = view.busy === "cancel" || view.busy === "pause";
  const progress = liveProgress(task, now, frozen);
  if (indeterminate(task)) {
    // No aria-valuenow: that is how a progress bar says "unknown".
    parts.bar.style.transform = "";
    put(parts.pct, task.startedMs ? elapsed(task, now) : "");
    if (parts.meter.hasAttribute("aria-valuenow")) parts.meter.removeAttribute("aria-valuenow");
  } else {
    parts.bar.style.transform = `scaleX(${progress})`;
    const percent = `${Math.floor(progress * 100)}%`;
    if (parts.pct.textContent !== percent || !parts.meter.hasAttribute("aria-valuenow")) {
      parts.pct.textContent = percent;
      parts.meter.setAttribute("aria-valuenow", String(Math.floor(progress * 100)));
    }
  }
  const [note, title] = progressNote(task, progress, now, view);
  put(parts.note, note);
  putTitle(parts.note, title);
  // Positions move as other tasks start, so they are painted every frame, not per version.
  show(parts.position, view.position !== undefined);
  if (view.position !== undefined) put(parts.position, `#${view.position} in queue`);
  putTime(parts.started, task.startedMs, now);
  putTime(parts.finished, task.finishedMs, now);
  put(parts.when, whenNote(task, now));
  return task.status === "running" && !frozen;
}

function paintIdentity(row, parts, task, busy, resumable) {
  const look = lookOf(task.status);
  const label = labelOf(task);
  const command = commandLine(task);
  row.dataset.taskId = task.task_id;
  row.dataset.status = task.status;
  // A command without a name is known by its command line.
  put(parts.name, task.name || command || "Untitled task");
  parts.name.classList.toggle("italic", !task.name && !command);
  parts.name.classList.toggle("font-mono", !task.name && Boolean(command));
  parts.name.classList.toggle("text-[0.8rem]", !task.name && Boolean(command));
  parts.name.title = task.name || command;
  parts.name.href = taskHash(task.task_id); // its record
  put(parts.id, shortId(task.task_id));
  parts.id.setAttribute("aria-label", `Copy task id ${task.task_id}`);
  put(parts.duration, task.kind === "timer" && task.duration ? formatDuration(task.duration) : task.kind);

  show(parts.priority, task.priority !== 0);
  put(parts.priorityValue, String(task.priority));
  parts.priority.title = `Priority ${task.priority}: higher starts first`;
  parts.priorityIcon.firstElementChild.setAttribute("href", task.priority < 0 ? "#i-arrow-down" : "#i-arrow-up");
  const place = placeOf(task);
  show(parts.place, place !== null);
  if (place !== null) {
    put(parts.placeText, place);
    putTitle(parts.place, task.worker ? `Runs on ${task.executor} worker ${task.worker}` : `Runs on ${task.executor}`);
  }
  show(parts.retryOf, Boolean(task.retry_of));
  if (task.retry_of) {
    put(parts.retryOfId, shortId(task.retry_of));
    parts.retryOf.title = `Retry of task ${task.retry_of}`;
  }

  parts.badge.className = `${BADGE} ${look.badge}`;
  put(parts.badgeLabel, BUSY_LABEL[busy] ?? look.label);
  parts.badgeIcon.setAttribute("class", `size-3.5 ${look.iconClass ?? ""}`);
  parts.badgeIcon.firstElementChild.setAttribute("href", `#${look.icon}`);
  parts.bar.className = indeterminate(task) ? BAR_UNKNOWN : `${BAR} ${look.bar}`;
  parts.meter.dataset.indeterminate = String(indeterminate(task));
  parts.meter.setAttribute("aria-label", `Progress of ${task.name || task.task_id}`);

  const buttons = {
    logs: [task.kind !== "timer", `Logs of ${label}`],
    pause: [task.status === "running" && resumable.has(task.kind), `Pause ${label}`],
    resume: [task.status === "paused", `Resume ${label}`],
    front: [WAITING.has(task.status), `Move ${label} to the front of the queue`],
    rank: [WAITING.has(task.status), `Change priority of ${label}`],
    retry: [FINAL.has(task.status), `Retry ${label}`],
    cancel: [CANCELLABLE.has(task.status), `Cancel ${label}`],
  };
  for (const [name, [on, aria]] of Object.entries(buttons)) {
    const button = parts[name];
    show(button, on);
    button.disabled = Boolean(busy);
    button.setAttribute("aria-label", aria);
  }
  put(parts.cancelLabel, busy === "cancel" ? "Cancelling…" : "Cancel");
  put(parts.retryLabel, busy === "retry" ? "Retrying…" : "Retry");
}

/** Find a fresh row's parts once, so painting never queries the DOM. */
export function bindRow(row) {
  const parts = {};
  for (const el of row.querySelectorAll("[data-part]")) parts[el.dataset.part] = el;
  row.parts = parts;
  return row;
}
