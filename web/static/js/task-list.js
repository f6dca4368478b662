// The task table's body, virtualised: only the rows in (or near) the window exist in the DOM,
// so 10,000 tasks cost what 40 do. Rows are keyed by task id and recycled when they scroll
// away. The page itself scrolls; a spacer height and top padding stand in for hidden rows.

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
    const spare = this.#release(new Set(visible));
    const positions = store.positions();
    const queuePaused = store.settings.queue_paused;
    let animating = false;
    let index = 0;
    for (const id of visible) {
      const task = store.get(id);
      let row = this.rows.get(id);
      if (!row) {
        row = spare.pop() ?? bindRow(this.template.content.firstElementChild.cloneNode(true));
        this.rows.set(id, row);
      }
      const view = { store, busy: store.busy.get(id) ?? null, position: positions.get(id), queuePaused };
      animating = paintRow(row, task, now, view) || animating;
      row.setAttribute("aria-rowindex", String(first + index + 2)); // row 1 is the header
      // Keep DOM order equal to visual order (tab order, screen readers); usually a no-op.
      const here = this.viewport.children[index];
      if (here !== row) this.viewport.insertBefore(row, here ?? null);
      index += 1;
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
        spare.push(row);
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
