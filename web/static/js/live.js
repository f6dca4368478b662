// The /ws connection: parses messages for the store, reconnects with capped, jittered
// exponential backoff, and reports its state for the indicator. Every (re)connection starts
// with a snapshot, so nothing missed while away needs replaying.

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;
// Changes that come within this long of the last frame arrive together in one "batch"
// message: a burst of thousands of changes is a few dozen frames, for the server and for
// this page, and the screen repaints no faster anyway.
const BATCH_MS = 20;

export class LiveConnection {
  /**
   * onMessage(message) gets each parsed message; onState(state, info) gets
   * "connecting" | "live" | "reconnecting" (info.retryAt: ms timestamp of the next attempt).
   */
  constructor({ onMessage, onState, onFailure }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.onFailure = onFailure; // called once per failed attempt, e.g. to probe for auth errors
    this.failures = 0;
    this.socket = null;
    this.timer = null;
  }

  start() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.onState(this.failures ? "reconnecting" : "connecting", {});
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "batch", ms: BATCH_MS })));
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      for (const one of message.type === "batch" ? message.messages : [message]) {
        if (one.type === "snapshot") {
          this.failures = 0;
          this.onState("live", {});
        }
        this.onMessage(one);
      }
    });
    socket.addEventListener("close", () => this.#retry(socket));
  }

  /** Send a request (e.g. follow a log); false when the socket is not open. */
  send(message) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Try now instead of waiting out the backoff (the "Retry now" button). */
  retryNow() {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.start();
  }

  #retry(socket) {
    if (socket !== this.socket) return;
    this.failures += 1;
    const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.failures - 1));
    // Jitter keeps several open windows from reconnecting in lockstep after a restart.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.onState("reconnecting", { retryAt: Date.now() + delay, failures: this.failures });
    this.onFailure?.(this.failures);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.start();
    }, delay);
  }
}
