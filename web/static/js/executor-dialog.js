// "Where tasks run": the default executor (this machine or the Dask cluster) and the
// scheduler's address, saved on the server (PUT /settings) for every window and tab. The
// server checks the address and may refuse (422 bad address, 409 tasks still on the old
// cluster, 403 without a token): its own words are shown, since they say what to fix.

import { ModalForm } from "./modal-form.js";

export class ExecutorDialog {
  constructor(dialog, { api, store, onChange }) {
    Object.assign(this, { api, store, onChange });
    this.modal = new ModalForm(dialog, () => this.#save());
    this.executor = dialog.querySelector("[name=executor]");
    this.scheduler = dialog.querySelector("[name=scheduler]");
    this.shown = { executor: "local", scheduler: "" };
  }

  open() {
    this.modal.showError("");
    this.scheduler.removeAttribute("aria-invalid");
    this.refresh(); // closed: every field takes the settings' value
    this.modal.dialog.showModal();
  }

  /** The settings changed (here or in another window): fields the user has not edited
   * since they were shown take the new values; an edit in progress is left alone. */
  refresh() {
    const now = {
      executor: this.store.settings.executor ?? "local",
      scheduler: this.store.settings.scheduler ?? "",
    };
    for (const name of ["executor", "scheduler"]) {
      if (this[name].value === this.shown[name] || !this.modal.dialog.open) this[name].value = now[name];
    }
    this.shown = now;
  }

  async #save() {
    const scheduler = this.scheduler.value.trim() || null;
    this.modal.form.setAttribute("aria-busy", "true");
    this.scheduler.removeAttribute("aria-invalid");
    try {
      this.store.setSettings(await this.api.updateSettings({ executor: this.executor.value, scheduler }));
      this.onChange();
      this.modal.dialog.close();
    } catch (error) {
      if (error.fields?.includes("scheduler") || /scheduler/.test(error.message)) {
        this.scheduler.setAttribute("aria-invalid", "true");
      }
      this.modal.showError(error.message);
    } finally {
      this.modal.form.removeAttribute("aria-busy");
    }
  }
}
