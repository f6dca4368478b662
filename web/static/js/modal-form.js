// What the page's small modal forms (notifications, priority, where tasks run) do alike:
// the form's submit calls `save` instead of loading a page, the close button and a click on
// the backdrop (it lands on the <dialog> itself) close it, as people expect, and one alert
// line says why a save was refused.

export class ModalForm {
  /** save(submitter value, e.g. "save" or "front") runs on submit. */
  constructor(dialog, save) {
    this.dialog = dialog;
    this.form = dialog.querySelector("form");
    this.error = dialog.querySelector("[data-error]");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      save(event.submitter?.value ?? "save");
    });
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
  }

  /** The reason a save failed, or "" to hide the line. */
  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }
}
