// What each task status looks like and allows. Full class strings live here (not built from
// pieces) so Tailwind's scanner finds every one of them.

export const STATUSES = [
  "running", "paused", "queued", "scheduled", "completed", "failed", "cancelled", "interrupted",
];

// Final statuses are terminal in the server's transition table: nothing leaves them.
export const FINAL = new Set(["completed", "cancelled", "failed", "interrupted"]);
export const CANCELLABLE = new Set(["scheduled", "queued", "running", "paused"]);
// Waiting tasks can be re-ranked; finished ones retried (as a new task).
export const WAITING = new Set(["scheduled", "queued"]);

export const LOOK = {
  running: {
    label: "Running",
    icon: "i-spinner",
    iconClass: "animate-spin",
    badge: "bg-blue-50 text-blue-700 ring-blue-600/20 dark:bg-blue-400/10 dark:text-blue-300 dark:ring-blue-400/25",
    bar: "bg-blue-500 dark:bg-blue-400 bar-sheen",
  },
  paused: {
    label: "Paused",
    icon: "i-pause",
    badge: "bg-sky-50 text-sky-700 ring-sky-600/20 dark:bg-sky-400/10 dark:text-sky-300 dark:ring-sky-400/25",
    bar: "bg-sky-500 dark:bg-sky-400",
  },
  queued: {
    label: "Queued",
    icon: "i-queue",
    badge: "bg-zinc-50 text-zinc-600 ring-zinc-500/20 dark:bg-zinc-400/10 dark:text-zinc-300 dark:ring-zinc-400/25",
    bar: "bg-zinc-400",
  },
  scheduled: {
    label: "Scheduled",
    icon: "i-clock",
    badge: "bg-violet-50 text-violet-700 ring-violet-600/20 dark:bg-violet-400/10 dark:text-violet-300 dark:ring-violet-400/25",
    bar: "bg-violet-400",
  },
  completed: {
    label: "Completed",
    icon: "i-check",
    badge: "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-400/10 dark:text-emerald-300 dark:ring-emerald-400/25",
    bar: "bg-emerald-500 dark:bg-emerald-400",
  },
  failed: {
    label: "Failed",
    icon: "i-x",
    badge: "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-400/10 dark:text-red-300 dark:ring-red-400/25",
    bar: "bg-red-500 dark:bg-red-400",
  },
  cancelled: {
    label: "Cancelled",
    icon: "i-ban",
    badge: "bg-zinc-100 text-zinc-500 ring-zinc-500/20 dark:bg-zinc-400/10 dark:text-zinc-400 dark:ring-zinc-400/20",
    bar: "bg-zinc-400 dark:bg-zinc-500",
  },
  interrupted: {
    label: "Interrupted",
    icon: "i-alert",
    badge: "bg-amber-50 text-amber-800 ring-amber-600/25 dark:bg-amber-400/10 dark:text-amber-300 dark:ring-amber-400/25",
    bar: "bg-amber-500 dark:bg-amber-400",
  },
};

/** A status this page does not know yet (a newer server) still gets a sober badge. */
export function lookOf(status) {
  return LOOK[status] ?? { ...LOOK.queued, label: status };
}
