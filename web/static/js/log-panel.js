// The log drawer: one task's output, live. It follows the task over the page's WebSocket
// ({"type": "follow"}): the server first says at which offset its live stream starts, and
// everything before that (or any "gap" the stream skipped) is read from GET /tasks/{id}/logs.
// The view keeps to the tail while the reader is at the bottom, and stays put once they
// scroll up to read.

import { copyText } from "./clipboard.js";
import { formatClock } from "./format.js";
import { LogView } from "./log-view.js";
import { commandLine } from "./shell-words.js";
import { FINAL, lookOf } from "./status.js";

const AT_BOTTOM_PX = 24;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function put(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** The part of `text` (which starts at byte `offset`) from byte `from` on. */
function fromByte(text, offset, from) {
  if (from <= offset) return text;
  return decoder.decode(encoder.encode(text).slice(from - offset));
}

export class LogPanel {
  /** send(message) goes over the WebSocket (false if it is not open); store has the tasks. */
  constructor(panel, { api, store, send, toasts }) {
    this.panel = panel;
    this.api = api;
    this.store = store;
    this.send = send;
    this.toasts = toasts;
    this.taskId = null;
    this.session = 0;
    const $ = (selector) => panel.querySelector(selector);
    this.parts = {
      name: $("[data-name]"),
      command: $("[data-command]"),
      status: $("[data-status]"),
      elapsed: $("[data-elapsed]"),
      error: $("[data-error]"),
      scroller: $("[data-scroller]"),
      state: $("[data-state]"),
      count: $("[data-count]"),
      follow: $("[data-follow]"),
    };
    this.view = new LogView($("[data-log]"));
    this.parts.scroller.addEventListener("scroll", () => this.#onScroll(), { passive: true });
    this.parts.follow.addEventListener("click", () => this.#setFollow(true));
    $("[data-copy]").addEventListener("click", () => this.#copy());
    $("[data-download]").addEventListener("click", () => this.#download());
    $("[data-close]").addEventListener("click", () => this.close());
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
  }

  get isOpen() {
    return this.taskId !== null;
  }

  open(taskId) {
    if (this.taskId === taskId) return;
    if (this.taskId) this.send({ type: "unfollow", task_id: this.taskId });
    this.session += 1;
    this.taskId = taskId;
    this.cursor = 0; // the log offset up to which the view has everything
    this.inbox = [];
    this.reading = false;
    this.problem = "";
    this.view.clear();
    this.#setFollow(true);
    this.panel.hidden = false;
    this.panel.querySelector("[data-close]").focus();
    this.resume();
    this.paint();
  }

  close() {
    if (!this.taskId) return;
    this.send({ type: "unfollow", task_id: this.taskId });
    const row = document.querySelector(`#task-rows [data-task-id="${CSS.escape(this.taskId)}"] [data-action=logs]`);
    this.session += 1;
    this.taskId = null;
    this.panel.hidden = true;
    this.view.clear();
    row?.focus();
  }

  /** (Re)start following: on open, and after the socket reconnected (a fresh snapshot). */
  resume() {
    if (this.taskId && !this.send({ type: "follow", task_id: this.taskId })) {
      this.problem = "Waiting for the connection…";
    }
  }

  /** A message from the socket: {"type": "log", ...} or an "error" answer to our request. */
  receive(message) {
    if (message.type === "error") {
      if (this.taskId) this.problem = message.detail;
      this.paint();
      return;
    }
    if (message.task_id !== this.taskId) return;
    this.problem = "";
    this.inbox.push(message);
    this.#drain();
  }

  /** Apply log messages in order; a message past what we have first reads the rest by REST. */
  async #drain() {
    if (this.reading) return;
    this.reading = true;
    const session = this.session;
    try {
      while (this.inbox.length && session === this.session) {
        const message = this.inbox.shift();
        const upTo = message.gap ? message.next_offset : message.offset;
        if (this.cursor < upTo) await this.#fetch(upTo, session);
        if (session !== this.session) return;
        if (!message.gap && message.next_offset > this.cursor) {
          this.view.write(fromByte(message.text, message.offset, this.cursor));
          this.cursor = message.next_offset;
        }
        this.paint();
      }
    } catch (error) {
      if (session === this.session) this.problem = `Could not read the log: ${error.message}`;
      this.paint();
    } finally {
      if (session === this.session) this.reading = false;
    }
  }

  async #fetch(upTo, session) {
    while (this.cursor < upTo && session === this.session) {
      const chunk = await this.api.logs(this.taskId, this.cursor, Math.min(upTo - this.cursor, 1 << 20));
      if (session !== this.session) return;
      this.view.write(chunk.text);
      const stuck = chunk.next_offset <= this.cursor;
      this.cursor = chunk.next_offset;
      this.paint();
      if (stuck) return;
    }
  }

  /** Called with every page paint (task changes) and after new log text. */
  paint() {
    if (!this.taskId) return;
    const task = this.store.get(this.taskId);
    const { name, command, status, elapsed, error, state, count, follow } = this.parts;
    const line = task ? commandLine(task) : "";
    // Called every frame while tasks run: write only what changed.
    put(name, task?.name || line || `Task ${this.taskId.slice(0, 8)}`);
    put(command, task?.name ? line : "");
    command.hidden = !command.textContent;
    put(status, task ? lookOf(task.status).label : "Removed");
    put(elapsed, task?.startedMs ? formatClock(((task.finishedMs ?? Date.now()) - task.startedMs) / 1000) : "");
    put(error, task?.error ?? "");
    error.hidden = !task?.error;
    const grew = this.view.paint();
    const lines = this.view.lineCount;
    put(count, lines === 1 ? "1 line" : `${lines.toLocaleString()} lines`);
    const done = task && FINAL.has(task.status);
    put(
      state,
      this.problem ||
        (!this.following ? "Paused — scroll to the end or press Follow" : done ? "The task has ended" : "Following live output"),
    );
    follow.setAttribute("aria-pressed", String(this.following));
    if (this.following && (grew || this.jump)) this.parts.scroller.scrollTop = this.parts.scroller.scrollHeight;
    this.jump = false;
  }

  #onScroll() {
    const { scrollTop, scrollHeight, clientHeight } = this.parts.scroller;
    const atBottom = scrollHeight - scrollTop - clientHeight < AT_BOTTOM_PX;
    if (atBottom !== this.following) {
      this.following = atBottom;
      this.paint();
    }
  }

  #setFollow(on) {
    this.following = on;
    this.jump = on;
    if (this.taskId) this.paint();
  }

  async #copy() {
    if (await copyText(this.view.text)) this.toasts.show("Copied the log");
  }

  /** The whole log from the server (the panel keeps only its tail), as a file. */
  async #download() {
    const taskId = this.taskId;
    try {
      const parts = [];
      let offset = 0;
      for (;;) {
        const chunk = await this.api.logs(taskId, offset, 1 << 20);
        parts.push(chunk.text);
        if (chunk.next_offset <= offset || chunk.text === "") break;
        offset = chunk.next_offset;
      }
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob(parts, { type: "text/plain" }));
      link.download = `task-${taskId}.log`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) {
      this.toasts.error(error.message, "Could not download the log");
    }
  }
}
