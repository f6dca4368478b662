// A task's output as text in a <pre>: ANSI escape codes and other control characters
// removed, carriage returns rewriting their line (progress bars), the log's "dropped" marker
// set apart, and at most MAX_LINES lines in the DOM however long the task talks.

const MAX_LINES = 5000;
const SLACK = 500; // trim in batches, not on every line
// CSI (colours, cursor moves), OSC (titles, links) and the two-character escapes.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
const MARKER = /^\[task-dashboard: \d+ earlier bytes dropped\]$/;
const MARK = "block rounded bg-amber-400/10 px-1.5 text-amber-300 italic";

export function stripAnsi(text) {
  return text.replace(ANSI, "").replace(CONTROL, "");
}

/** What a line with carriage returns shows: the text after the last one (a trailing one waits). */
function visible(raw) {
  const body = raw.replace(/\r+$/, "");
  return body.slice(body.lastIndexOf("\r") + 1);
}

export class LogView {
  constructor(pre) {
    this.pre = pre;
    this.clear();
  }

  clear() {
    this.lines = [];
    this.partial = ""; // the unfinished last line, as received (may hold \r)
    this.hidden = 0; // lines trimmed from the top
    this.pending = [];
    this.pre.replaceChildren();
    this.tail = document.createTextNode("");
    this.pre.append(this.tail);
  }

  get lineCount() {
    return this.hidden + this.lines.length + (this.partial ? 1 : 0);
  }

  /** The kept text, as shown. */
  get text() {
    return this.lines.join("\n") + (this.lines.length ? "\n" : "") + visible(this.partial);
  }

  /** Take more output; the DOM changes at the next paint(). */
  write(text) {
    const parts = stripAnsi(text.replaceAll("\r\n", "\n")).split("\n");
    parts[0] = this.partial + parts[0];
    this.partial = parts.pop();
    // Only the last rewrite of the unfinished line matters (a progress bar redraws it often).
    const rewrite = this.partial.lastIndexOf("\r", this.partial.length - 2);
    if (rewrite > 0) this.partial = this.partial.slice(rewrite);
    for (const raw of parts) {
      const line = visible(raw);
      this.lines.push(line);
      this.pending.push(line);
    }
  }

  /** Returns true if the text changed. */
  paint() {
    let changed = this.pending.length > 0;
    if (this.lines.length > MAX_LINES + SLACK) {
      this.hidden += this.lines.length - MAX_LINES;
      this.lines = this.lines.slice(-MAX_LINES);
      this.pending = [];
      this.#rebuild();
    } else if (this.pending.length) {
      this.pre.insertBefore(this.#fragment(this.pending), this.tail);
      this.pending = [];
    }
    const last = visible(this.partial);
    if (this.tail.data !== last) {
      this.tail.data = last;
      changed = true;
    }
    return changed;
  }

  #rebuild() {
    this.pre.replaceChildren();
    if (this.hidden) {
      const note = document.createElement("span");
      note.className = MARK;
      note.textContent = `… ${this.hidden.toLocaleString()} earlier lines are not shown here (Download has the whole log)`;
      this.pre.append(note);
    }
    this.pre.append(this.#fragment(this.lines), this.tail);
  }

  /** Lines as text nodes, runs of ordinary lines joined into one node. */
  #fragment(lines) {
    const fragment = document.createDocumentFragment();
    let run = [];
    const flush = () => {
      if (run.length) fragment.append(document.createTextNode(`${run.join("\n")}\n`));
      run = [];
    };
    for (const line of lines) {
      if (MARKER.test(line)) {
        flush();
        const mark = document.createElement("span");
        mark.className = MARK;
        mark.textContent = line.slice(1, -1).replace("task-dashboard: ", "");
        fragment.append(mark);
      } else {
        run.push(line);
      }
    }
    flush();
    return fragment;
  }
}
