// "Change priority": a small modal for one waiting task. Save a number, or move the task
// ahead of everything waiting. A dialog (not an in-row editor) because rows are recycled as
// the list scrolls, and a modal keeps focus where the keyboard user expects it.

import { ModalForm } from "./modal-form.js";

export class PriorityDialog {
  constructor(dialog, { store, submit }) {
    this.dialog = dialog;
    this.store = store;
    this.submit = submit; // (taskId, {priority} | {front: true}) -> Promise
    this.modal = new ModalForm(dialog, (action) => this.#save(action));
    this.form = this.modal.form;
    this.input = dialog.querySelector("[name=priority]");
    this.taskName = dialog.querySelector("[data-task-name]");
    this.hint = dialog.querySelector("[data-hint]");
    this.taskId = null;
  }

  open(taskId) {
    const task = this.store.get(taskId);
    if (!task) return;
    this.taskId = taskId;
    this.taskName.textContent = task.name || `Task ${taskId.slice(0, 8)}`;
    this.input.value = String(task.priority);
    this.input.removeAttribute("aria-invalid");
    let highest = null;
    for (const other of this.store.byId.values()) {
      if ((other.status === "queued" || other.status === "scheduled") && other.task_id !== taskId) {
        highest = Math.max(highest ?? -Infinity, other.priority);
      }
    }
    this.hint.textContent =
      highest === null
        ? "Higher starts first. Nothing else is waiting."
        : `Higher starts first. The highest other waiting task has ${highest}.`;
    this.modal.showError("");
    this.dialog.showModal();
    this.input.select();
  }

  async #save(how) {
    let change = { front: true };
    if (how !== "front") {
      const priority = Number(this.input.value);
      if (this.input.value.trim() === "" || !Number.isInteger(priority) || Math.abs(priority) > 1000) {
        this.input.setAttribute("aria-invalid", "true");
        this.modal.showError("Enter a whole number from -1000 to 1000.");
        this.input.focus();
        return;
      }
      change = { priority };
    }
    this.form.setAttribute("aria-busy", "true");
    try {
      await this.submit(this.taskId, change);
      this.dialog.close();
    } catch (error) {
      this.modal.showError(error.message);
    } finally {
      this.form.removeAttribute("aria-busy");
    }
  }
}
