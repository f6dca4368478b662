// Terminal colours in a task's log, made safe: SGR codes (ESC [ ... m) become a few fixed
// classes on <span>s built with textContent; every other escape (cursor moves, titles,
// links) and control character is dropped. The page's CSP allows no inline styles, so
// 256-colour and RGB codes keep the default colour rather than getting one made up.

// CSI (colours, cursor moves), OSC (titles, links) and the two-character escapes.
const ESCAPE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
const SGR = /^\x1b\[([0-9;:]*)m$/;
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

// Light on the log's dark background, normal (30-37) and bright (90-97) alike readable.
const COLOURS = {
  30: "text-zinc-500", 31: "text-red-400", 32: "text-green-400", 33: "text-yellow-300",
  34: "text-blue-400", 35: "text-fuchsia-400", 36: "text-cyan-300", 37: "text-zinc-200",
  90: "text-zinc-400", 91: "text-red-300", 92: "text-green-300", 93: "text-yellow-200",
  94: "text-blue-300", 95: "text-fuchsia-300", 96: "text-cyan-200", 97: "text-white",
};
const ATTRIBUTES = { 1: "font-bold", 2: "opacity-70", 3: "italic", 4: "underline" };
// What turns an attribute off again: 22 ends both bold and dim.
const OFF = { 22: [1, 2], 23: [3], 24: [4] };
// Foreground, background and underline colours given as 256-colour or RGB values.
const EXTENDED = new Set([38, 48, 58]);

/** Text without any escape or control character. */
export function stripAnsi(text) {
  return text.replace(ESCAPE, "").replace(CONTROL, "");
}

/** The colours and attributes in force, carried from one line to the next. */
export class AnsiState {
  colour = null;
  attributes = new Set();

  get classes() {
    const names = [...this.attributes].map((a) => ATTRIBUTES[a]);
    if (this.colour) names.unshift(this.colour);
    return names.join(" ");
  }

  /** Apply one SGR code's parameters: `;` separates codes, `:` a code's own sub-fields
   *  (38:2::255:0:0 is one RGB colour; 4:0 is underline off, 4:3 a curly underline). */
  apply(params) {
    const codes = params.split(";");
    for (let i = 0; i < codes.length; i++) {
      const [head, sub] = codes[i].split(":");
      const code = Number(head); // "" counts as 0, as terminals read it
      if (EXTENDED.has(code)) {
        // 256-colour or RGB: no class for it. In the `;` form its fields follow as codes.
        if (sub === undefined) i += codes[i + 1] === "5" ? 2 : 4;
      } else if (code === 4 && sub !== undefined) {
        if (sub === "0") this.attributes.delete(4);
        else this.attributes.add(4);
      } else if (code === 0) {
        this.colour = null;
        this.attributes.clear();
      } else if (code in COLOURS) this.colour = COLOURS[code];
      else if (code === 39) this.colour = null;
      else if (code in ATTRIBUTES) this.attributes.add(code);
      else if (code in OFF) for (const a of OFF[code]) this.attributes.delete(a);
    }
  }

  /** Follow the codes in `text` without showing it (what a carriage return overwrote). */
  absorb(text) {
    for (const [escape] of text.matchAll(ESCAPE)) {
      const sgr = SGR.exec(escape);
      if (sgr) this.apply(sgr[1]);
    }
  }

  /** `text` as [text, classes] runs, its codes applied in order. */
  runs(text) {
    const runs = [];
    let at = 0;
    const take = (end) => {
      const plain = text.slice(at, end).replace(CONTROL, "");
      if (plain) runs.push([plain, this.classes]);
    };
    for (const match of text.matchAll(ESCAPE)) {
      take(match.index);
      at = match.index + match[0].length;
      const sgr = SGR.exec(match[0]);
      if (sgr) this.apply(sgr[1]);
    }
    take(text.length);
    return runs;
  }
}
