// The task table's body, virtualised: only the rows in (or near) the window exist in the DOM,
// so 100,000 tasks cost what 40 do. Rows are keyed by task id and recycled when they scroll
// away. The page itself scrolls; a spacer height and top padding stand in for hidden rows.
// The ids come from a list with `length` and `slice()` (task-pages.js), where a row not
// paged in yet is null: it shows as a placeholder of the same height.

import { bindRow, paintRow } from "./task-row.js";

const OVERSCAN = 8; // rows kept beyond each edge, so fast scrolling shows no blank gaps
const WIDE = window.matchMedia("(min-width: 48rem)"); // Tailwind's md: row height changes there

export class TaskList {
  constructor({ table, viewport, template, onAction }) {
    this.table = table;
    this.viewport = viewport;
    this.template = template;
    this.rows = new Map(); // task id -> row element in the DOM
    this.rowHeight = 0;
    this.layoutKey = "";
    WIDE.addEventListener("change", () => {
      this.rowHeight = 0;
    });
    viewport.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      const row = event.target.closest("[role=row]");
      if (!row) return;
      if (button) onAction(button.dataset.action, row.dataset.taskId);
      // A click anywhere else on the row opens its record, as its name's link does (but
      // not one that ends a text selection, nor one on another control).
      else if (!event.target.closest("a, button") && !getSelection().toString()) {
        onAction("detail", row.dataset.taskId);
      }
    });
  }

  /** Paint the rows of `ids` that are visible; returns true if any of them is animating. */
  render(ids, store, now) {
    const height = this.rowHeight || this.#measure();
    const top = this.viewport.getBoundingClientRect().top; // read before any write this frame
    const first = Math.max(0, Math.floor(-top / height) - OVERSCAN);
    const last = Math.min(ids.length, Math.ceil((window.innerHeight - top) / height) + OVERSCAN);

    this.#layout(ids.length, first, height);

    const visible = ids.slice(first, Math.max(first, last));
    // A row not paged in yet (null) is keyed by its place, and stands in until it comes.
    const tasks = visible.map((id) => (id === null ? undefined : store.get(id)));
    const keys = visible.map((id, i) => (tasks[i] ? id : `loading:${first + i}`));
    const spare = this.#release(new Set(keys));
    const positions = store.positions();
    const queuePaused = store.settings.queue_paused;
    let animating = false;
    for (const [index, key] of keys.entries()) {
      const task = tasks[index];
      let row = this.rows.get(key);
      if (!row) {
        row = task ? (spare.pop() ?? bindRow(this.template.content.firstElementChild.cloneNode(true))) : placeholder(height);
        this.rows.set(key, row);
      }
      if (task) {
        const view = { store, busy: store.busy.get(key) ?? null, position: positions.get(key), queuePaused };
        animating = paintRow(row, task, now, view) || animating;
      }
      const rowIndex = String(first + index + 2); // row 1 is the header
      if (row.getAttribute("aria-rowindex") !== rowIndex) row.setAttribute("aria-rowindex", rowIndex);
      // Keep DOM order equal to visual order (tab order, screen readers); usually a no-op.
      const here = this.viewport.children[index];
      if (here !== row) this.viewport.insertBefore(row, here ?? null);
    }
    for (const row of spare) row.remove();
    return animating;
  }

  /** The spacer's size and the rows' offset; written only when they change (most frames not). */
  #layout(count, first, height) {
    const key = `${count}|${first}|${height}`;
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    this.table.setAttribute("aria-rowcount", String(count + 1));
    this.viewport.style.height = `${count * height}px`;
    this.viewport.style.paddingTop = `${first * height}px`;
  }

  /** Rows whose task is no longer visible become spares for the tasks that now are. */
  #release(keep) {
    const spare = [];
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        this.rows.delete(id);
        row.task = null;
        // Out of the DOM at once: left in place, every row kept after it would be moved
        // to keep DOM order, and each move costs a style and layout pass (bench/).
        row.remove();
        if (row.parts) spare.push(row); // not a placeholder
      }
    }
    return spare;
  }

  #measure() {
    const probe = this.template.content.firstElementChild.cloneNode(true);
    probe.setAttribute("aria-hidden", "true");
    this.viewport.append(probe);
    this.rowHeight = probe.getBoundingClientRect().height || 56;
    probe.remove();
    return this.rowHeight;
  }
}

/** A row not paged in yet: as tall as a task's, so nothing moves when it comes. */
function placeholder(height) {
  const row = document.createElement("div");
  row.setAttribute("role", "row");
  row.setAttribute("aria-busy", "true");
  row.dataset.placeholder = "";
  row.className = "border-b border-zinc-100 dark:border-white/5";
  row.style.height = `${height}px`;
  return row;
}
