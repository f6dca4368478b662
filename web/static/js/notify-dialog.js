// "Notifications": which task ends are told (every end, failures only, never) and the
// shortest task worth telling, saved on the server for every window and tab. In a browser
// the page asks for permission to notify only here, when the user turns them on.

import { formatDuration, parseDuration } from "./format.js";
import { ModalForm } from "./modal-form.js";
import { notifyPermission } from "./notifications.js";

const WHO_TELLS = {
  desktop: "Shown by your desktop's notification service.",
  granted: "This browser shows them while the dashboard is open in a tab.",
  default: "This browser has not been allowed to show them yet.",
  denied: "This browser blocks them: allow notifications for this site in its settings.",
  unsupported: "This browser cannot show notifications.",
};

export class NotifyDialog {
  constructor(dialog, { api, store, onChange }) {
    this.dialog = dialog;
    this.api = api;
    this.store = store;
    this.onChange = onChange;
    this.modal = new ModalForm(dialog, () => this.#save());
    this.form = this.modal.form;
    this.mode = dialog.querySelector("[name=notify]");
    this.minimum = dialog.querySelector("[name=notify_min_seconds]");
    this.who = dialog.querySelector("[data-permission]");
    this.allow = dialog.querySelector("[data-allow]");
    this.allow.addEventListener("click", () => this.#ask());
  }

  open() {
    const { notify, notify_min_seconds: least } = this.store.settings;
    this.mode.value = notify ?? "all";
    this.minimum.value = formatDuration(least ?? 0);
    this.minimum.removeAttribute("aria-invalid");
    this.modal.showError("");
    this.#paintPermission();
    this.dialog.showModal();
  }

  #paintPermission() {
    const state = notifyPermission();
    this.who.textContent = WHO_TELLS[state];
    this.allow.hidden = state !== "default";
  }

  async #ask() {
    await Notification.requestPermission();
    this.#paintPermission();
  }

  async #save() {
    const seconds = parseDuration(this.minimum.value);
    if (seconds === null || seconds < 0) {
      this.minimum.setAttribute("aria-invalid", "true");
      this.modal.showError("Enter a duration such as 10, 90s or 2m (0 tells of every task).");
      this.minimum.focus();
      return;
    }
    const notify = this.mode.value;
    // Turning them on is the moment to ask: now, while the click still counts as the user's.
    const asking = notify !== "never" && notifyPermission() === "default";
    const asked = asking ? Notification.requestPermission() : null;
    this.form.setAttribute("aria-busy", "true");
    try {
      this.store.setSettings(await this.api.updateSettings({ notify, notify_min_seconds: seconds }));
      this.onChange();
      this.dialog.close();
      await asked;
    } catch (error) {
      this.modal.showError(error.message);
    } finally {
      this.form.removeAttribute("aria-busy");
    }
  }
}
