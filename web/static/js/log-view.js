// A task's output in a <pre>: terminal colours shown (ansi.js: as classes, everything else
// escaped or dropped), carriage returns rewriting their line (progress bars), the log's
// "dropped" marker set apart, and at most MAX_LINES lines in the DOM however long the task
// talks.

import { AnsiState, stripAnsi } from "./ansi.js";

const MAX_LINES = 5000;
const SLACK = 500; // trim in batches, not on every line
const MARKER = /^\[task-dashboard: \d+ earlier bytes dropped\]$/;
const MARK = "block rounded bg-amber-400/10 px-1.5 text-amber-300 italic";

/** Drop trailing carriage returns (a trailing one waits for what follows). */
function trimmed(raw) {
  return raw.replace(/\r+$/, "");
}

/** What a line with carriage returns shows: the text after the last one. */
function visible(raw) {
  const body = trimmed(raw);
  return body.slice(body.lastIndexOf("\r") + 1);
}

/** A line's plain text, from its [text, classes] runs. */
function plain(runs) {
  return runs.map(([text]) => text).join("");
}

export class LogView {
  constructor(pre) {
    this.pre = pre;
    this.clear();
  }

  clear() {
    this.lines = []; // finished lines, as [text, classes] runs
    this.colours = new AnsiState(); // in force at the end of the last finished line
    this.partial = ""; // the unfinished last line, as received (may hold \r and codes)
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
    const lines = this.lines.map(plain);
    return lines.join("\n") + (lines.length ? "\n" : "") + stripAnsi(visible(this.partial));
  }

  /** Take more output; the DOM changes at the next paint(). */
  write(text) {
    const parts = text.replaceAll("\r\n", "\n").split("\n");
    parts[0] = this.partial + parts[0];
    this.partial = parts.pop();
    for (const raw of parts) {
      const body = trimmed(raw);
      const rewrite = body.lastIndexOf("\r");
      // What a carriage return overwrote is not shown, but its colour codes still count.
      this.colours.absorb(body.slice(0, rewrite + 1));
      const line = this.colours.runs(body.slice(rewrite + 1));
      this.lines.push(line);
      this.pending.push(line);
    }
    // Only the last rewrite of the unfinished line matters (a progress bar redraws it
    // often): keep that, and the colour codes of what it overwrote.
    const rewrite = trimmed(this.partial).lastIndexOf("\r");
    if (rewrite > 0) {
      this.colours.absorb(this.partial.slice(0, rewrite));
      this.partial = this.partial.slice(rewrite);
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
    const last = stripAnsi(visible(this.partial)); // in colour once the line is finished
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

  /** Lines as DOM nodes: runs of uncoloured lines joined into one text node. */
  #fragment(lines) {
    const fragment = document.createDocumentFragment();
    let run = [];
    const flush = () => {
      if (run.length) fragment.append(document.createTextNode(`${run.join("\n")}\n`));
      run = [];
    };
    for (const line of lines) {
      const text = plain(line);
      if (MARKER.test(text)) {
        flush();
        const mark = document.createElement("span");
        mark.className = MARK;
        mark.textContent = text.slice(1, -1).replace("task-dashboard: ", "");
        fragment.append(mark);
      } else if (line.every(([, classes]) => !classes)) {
        run.push(text);
      } else {
        flush();
        for (const [part, classes] of line) {
          if (!classes) {
            fragment.append(document.createTextNode(part));
            continue;
          }
          const span = document.createElement("span");
          span.className = classes;
          span.textContent = part;
          fragment.append(span);
        }
        fragment.append(document.createTextNode("\n"));
      }
    }
    flush();
    return fragment;
  }
}
