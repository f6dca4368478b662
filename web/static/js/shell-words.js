// Command lines as a shell reads them: "python train.py --name 'my run'" -> four arguments,
// and back (quoted where needed), so the form takes what people paste from a terminal.

/** Split like a POSIX shell: spaces separate, '...' is literal, "..." and \ escape. */
export function splitArgs(text) {
  const args = [];
  let current = "";
  let inWord = false;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else current += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1])) current += text[++i];
      else current += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) args.push(current);
      current = "";
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`Close the ${quote === "'" ? "single" : "double"} quote.`);
  if (inWord) args.push(current);
  return args;
}

/** The reverse, for showing an argument list as one line people could paste back. */
export function joinArgs(args) {
  return args.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'"'"'`)}'`)).join(" ");
}

/** A task's command line (command tasks), or "". */
export function commandLine(task) {
  const command = task.params?.command;
  if (typeof command === "string") return command;
  return Array.isArray(command) ? joinArgs(command) : "";
}
