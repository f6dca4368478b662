// What the list area says when it has no rows to show, and why.

import { lookOf } from "./status.js";

export class EmptyState {
  constructor(box, { onAction }) {
    this.box = box;
    this.title = box.querySelector("[data-title]");
    this.body = box.querySelector("[data-body]");
    this.action = box.querySelector("[data-action]");
    // Not null: if the very first paint already has rows (the snapshot beat the first frame),
    // show(null) must still hide the "Loading" markup the page starts with.
    this.current = undefined;
    this.action.addEventListener("click", () => onAction(this.current?.action));
  }

  /** Pick the message for this moment; null hides the box. */
  static describe({ loaded, connection, total, shown, filters }) {
    if (!loaded) {
      return connection === "reconnecting"
        ? { title: "Cannot reach the task server", body: "It may have stopped. This page keeps trying and fills in as soon as it answers." }
        : { title: "Loading tasks…", body: "" };
    }
    if (shown > 0) return null;
    if (total === 0) {
      return { title: "No tasks yet", body: "Add one with the form above, or from a script: the API button shows ready curl commands." };
    }
    if (filters.query) {
      return { title: `No tasks match “${filters.query}”`, body: "Search looks at task names and id prefixes.", action: "clear-search", label: "Clear search" };
    }
    const label = lookOf(filters.status).label.toLowerCase();
    return { title: `No ${label} tasks`, body: "Nothing has this status right now.", action: "show-all", label: "Show all tasks" };
  }

  show(message) {
    const key = JSON.stringify(message);
    if (key === JSON.stringify(this.current)) return;
    this.current = message;
    this.box.hidden = !message;
    if (!message) return;
    this.title.textContent = message.title;
    this.body.textContent = message.body;
    this.action.hidden = !message.action;
    this.action.textContent = message.label ?? "";
  }
}
