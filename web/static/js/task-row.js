// Paints one task into one row element. Rows are recycled by the list, so painting is
// idempotent and writes to the DOM only what changed since the row's last paint.

import { exactTime, formatClock, formatDuration, relativeTime } from "./format.js";
import { CANCELLABLE, lookOf } from "./status.js";

const BADGE = "inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset";
const BAR = "block h-full w-full origin-left rounded-full";

/**
 * Timer tasks report progress a few times a second; between reports the bar keeps moving
 * from started_at and duration, never behind the server's figure and never done early.
 */
export function liveProgress(task, now, frozen) {
  if (frozen || task.status !== "running" || task.kind !== "timer" || !task.duration) {
    return task.progress;
  }
  const guess = (now - task.startedMs) / 1000 / task.duration;
  return Math.max(task.progress, Math.min(guess, 0.999));
}

function progressNote(task, progress, now) {
  switch (task.status) {
    case "running":
      return task.duration ? `${formatClock(task.duration * (1 - progress))} left` : "";
    case "queued":
      return task.queue_position ? `#${task.queue_position} in the queue` : "Waiting for a slot";
    case "paused":
      return "Paused";
    case "scheduled":
      return task.runAtMs ? `Starts ${relativeTime(task.runAtMs, now)}` : "Waiting";
    case "completed":
      return task.startedMs ? `Took ${formatDuration((task.finishedMs - task.startedMs) / 1000)}` : "";
    case "cancelled":
      return task.startedMs ? `Ran ${formatDuration((task.finishedMs - task.startedMs) / 1000)}` : "Never started";
    default:
      return task.error ?? "";
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

function putTime(el, ms, now) {
  put(el, ms ? relativeTime(ms, now) : "—");
  const title = ms ? exactTime(ms) : "";
  if (el.title !== title) {
    el.title = title;
    if (ms) el.dateTime = new Date(ms).toISOString();
    else el.removeAttribute("datetime");
  }
}

export function paintRow(row, task, now, cancelling) {
  const parts = row.parts;
  if (row.task !== task || row.cancelling !== cancelling) {
    paintIdentity(row, parts, task, cancelling);
    row.task = task;
    row.cancelling = cancelling;
  }
  const progress = liveProgress(task, now, cancelling);
  parts.bar.style.transform = `scaleX(${progress})`;
  const percent = `${Math.floor(progress * 100)}%`;
  if (parts.pct.textContent !== percent) {
    parts.pct.textContent = percent;
    parts.meter.setAttribute("aria-valuenow", String(Math.floor(progress * 100)));
  }
  put(parts.note, progressNote(task, progress, now));
  putTime(parts.started, task.startedMs, now);
  putTime(parts.finished, task.finishedMs, now);
  put(parts.when, whenNote(task, now));
}

function paintIdentity(row, parts, task, cancelling) {
  const look = lookOf(task.status);
  row.dataset.taskId = task.task_id;
  row.dataset.status = task.status;
  put(parts.name, task.name || "Untitled task");
  parts.name.classList.toggle("italic", !task.name);
  parts.name.title = task.name;
  put(parts.id, task.task_id.slice(0, 8));
  parts.id.setAttribute("aria-label", `Copy task id ${task.task_id}`);
  put(parts.duration, task.duration ? formatDuration(task.duration) : "");
  parts.badge.className = `${BADGE} ${look.badge}`;
  put(parts.badgeLabel, cancelling ? "Cancelling…" : look.label);
  parts.badgeIcon.setAttribute("class", `size-3.5 ${look.iconClass ?? ""}`);
  parts.badgeIcon.firstElementChild.setAttribute("href", `#${look.icon}`);
  parts.bar.className = `${BAR} ${look.bar}`;
  parts.meter.setAttribute("aria-label", `Progress of ${task.name || task.task_id}`);
  parts.note.title = task.error ?? "";
  const canCancel = CANCELLABLE.has(task.status);
  parts.cancel.hidden = !canCancel;
  parts.cancel.disabled = cancelling;
  parts.cancel.setAttribute("aria-label", `Cancel ${task.name || `task ${task.task_id}`}`);
  put(parts.cancelLabel, cancelling ? "Cancelling…" : "Cancel");
}

/** Find a fresh row's parts once, so painting never queries the DOM. */
export function bindRow(row) {
  const parts = {};
  for (const el of row.querySelectorAll("[data-part]")) parts[el.dataset.part] = el;
  row.parts = parts;
  return row;
}
