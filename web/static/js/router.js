// Where the page is, kept in the URL's hash so that a reload or a shared link opens the same
// view: "" is the task list, "#charts" the charts, "#task/ID" a task's record over the list.

export function parseRoute(hash) {
  const task = /^#task\/(.+)$/.exec(hash);
  if (task) return { view: "tasks", taskId: decodeURIComponent(task[1]) };
  return { view: hash === "#charts" ? "charts" : "tasks", taskId: null };
}

export function taskHash(taskId) {
  return `#task/${encodeURIComponent(taskId)}`;
}

/** Go to the list (a new history entry, so Back returns to the task); calls onRoute itself. */
export function leaveTask(onRoute) {
  history.pushState(null, "", `${location.pathname}${location.search}`);
  onRoute();
}
