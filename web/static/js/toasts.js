// Short-lived notices in the corner. The region is aria-live, so screen readers hear them too.

const LOOKS = {
  info: { icon: "i-check", tone: "text-emerald-500 dark:text-emerald-400" },
  error: { icon: "i-x", tone: "text-red-500 dark:text-red-400" },
};

export class Toasts {
  constructor(region, template) {
    this.region = region;
    this.template = template;
  }

  show(message, { kind = "info", title = "" } = {}) {
    const toast = this.template.content.firstElementChild.cloneNode(true);
    const look = LOOKS[kind];
    const icon = toast.querySelector("[data-icon]");
    icon.classList.add(...look.tone.split(" "));
    icon.querySelector("use").setAttribute("href", `#${look.icon}`);
    toast.querySelector("[data-title]").textContent = title || message;
    const body = toast.querySelector("[data-message]");
    if (title) body.textContent = message;
    else body.remove();
    if (kind === "error") toast.setAttribute("role", "alert");
    const dismiss = () => toast.remove();
    toast.querySelector("[data-dismiss]").addEventListener("click", dismiss);
    this.region.append(toast);
    setTimeout(dismiss, kind === "error" ? 8000 : 3500);
  }

  error(message, title = "") {
    this.show(message, { kind: "error", title });
  }
}
