// The "API" dialog: this instance's base URL (the port is random), its token (masked until
// asked for) and curl commands ready to paste. The token comes from a data- attribute: the
// page is only served to authenticated clients, and JS cannot read the HttpOnly cookie.

import { copyText } from "./clipboard.js";

const MASK = "••••••••••••••••";

function commands(base, auth) {
  const header = auth ? ` \\\n  -H "Authorization: Bearer TOKEN"` : "";
  const json = ` \\\n  -H "Content-Type: application/json"`;
  return [
    ["Add a task", `curl -X POST ${base}/tasks/add${header}${json} \\\n  -d '{"duration": 90, "name": "backup"}'`],
    ["List tasks", `curl "${base}/tasks/status?status=running,queued"${header}`],
    ["Cancel a task", `curl -X POST ${base}/tasks/cancel${header}${json} \\\n  -d '{"task_id": "TASK_ID"}'`],
    ["Clear finished tasks", `curl -X DELETE ${base}/tasks/finished${header}`],
  ];
}

export class ApiPanel {
  constructor(dialog, { template, toasts }) {
    this.dialog = dialog;
    this.token = dialog.dataset.token ?? "";
    this.auth = this.token !== "";
    this.revealed = false;
    this.toasts = toasts;
    const base = location.origin;
    dialog.querySelector("[data-base-url]").textContent = base;
    dialog.querySelector("[data-docs]").href = `${base}/docs`;
    dialog.querySelector("[data-token-row]").hidden = !this.auth;

    this.snippets = commands(base, this.auth).map(([title, text]) => {
      const block = template.content.firstElementChild.cloneNode(true);
      block.querySelector("[data-title]").textContent = title;
      block.querySelector("[data-copy]").dataset.copy = title;
      dialog.querySelector("[data-commands]").append(block);
      return { title, text, code: block.querySelector("code") };
    });
    this.#paint();

    dialog.addEventListener("click", (event) => this.#click(event));
  }

  open() {
    this.dialog.showModal();
  }

  #withToken(text, real) {
    return text.replaceAll("TOKEN", real ? this.token : MASK);
  }

  #paint() {
    this.dialog.querySelector("[data-token]").textContent = this.revealed ? this.token : MASK;
    const toggle = this.dialog.querySelector("[data-reveal]");
    toggle.textContent = this.revealed ? "Hide" : "Show";
    toggle.setAttribute("aria-pressed", String(this.revealed));
    for (const snippet of this.snippets) {
      snippet.code.textContent = this.#withToken(snippet.text, this.revealed);
    }
  }

  #copyTarget(what) {
    if (what === "url") return { text: location.origin, label: "the base URL" };
    if (what === "token") return { text: this.token, label: "the token" };
    const snippet = this.snippets.find((s) => s.title === what);
    return { text: this.#withToken(snippet.text, true), label: `“${what}” command` };
  }

  async #click(event) {
    // A click on the backdrop lands on the <dialog> itself: close, as people expect.
    if (event.target === this.dialog) this.dialog.close();
    const button = event.target.closest("button");
    if (!button) return;
    if (button.hasAttribute("data-reveal")) {
      this.revealed = !this.revealed;
      this.#paint();
      return;
    }
    if (!button.dataset.copy) return;
    const { text, label } = this.#copyTarget(button.dataset.copy);
    if (await copyText(text)) this.toasts.show(`Copied ${label}`);
    else this.toasts.error("Select the text and copy it by hand.", "Could not copy");
  }
}
