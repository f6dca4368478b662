// The header's connection pill and the banner shown while the live connection is down.
// Colours follow data-state in the markup (Tailwind data-[state=...] variants).

const SPOKEN = {
  connecting: "Connecting",
  live: "Live updates on",
  reconnecting: "Connection lost, reconnecting",
};

export class ConnectionStatus {
  constructor({ pill, announcer, banner, onRetry }) {
    this.pill = pill;
    this.announcer = announcer; // a live region: states are announced, countdown ticks are not
    this.label = pill.querySelector("[data-label]");
    this.banner = banner;
    this.bannerText = banner.querySelector("[data-message]");
    banner.querySelector("[data-retry]").addEventListener("click", onRetry);
    this.state = "connecting";
    this.retryAt = 0;
    this.authLost = false;
    this.countdown = null;
  }

  set(state, { retryAt = 0 } = {}) {
    this.state = state;
    this.retryAt = retryAt;
    if (state === "live") this.authLost = false;
    const spoken = SPOKEN[state];
    if (this.announcer.textContent !== spoken) this.announcer.textContent = spoken;
    document.documentElement.dataset.connection = state;
    clearInterval(this.countdown);
    // The countdown text changes each second; nothing else needs a timer here.
    if (state === "reconnecting") this.countdown = setInterval(() => this.#paint(), 1000);
    this.#paint();
  }

  /** The server answers but refuses our cookie: retrying will not help, signing in will. */
  setAuthLost() {
    this.authLost = true;
    this.announcer.textContent = "Signed out: open the dashboard link again";
    this.#paint();
  }

  #paint() {
    const seconds = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
    const text = {
      connecting: "Connecting…",
      live: "Live",
      reconnecting: seconds ? `Reconnecting in ${seconds}s` : "Reconnecting…",
    }[this.state];
    this.pill.dataset.state = this.authLost ? "denied" : this.state;
    this.label.textContent = this.authLost ? "Signed out" : text;
    this.banner.hidden = this.state === "live";
    this.banner.dataset.state = this.authLost ? "denied" : this.state;
    this.bannerText.textContent = this.authLost
      ? "This page is no longer signed in (the token changed). Open the dashboard link that `task-dashboard info` prints."
      : this.state === "connecting"
        ? "Connecting to the task server…"
        : `Lost the connection to the task server. Showing the last known state; ${text.toLowerCase()}.`;
  }
}
