// The fields of a task kind, built from the JSON Schema that GET /kinds publishes: text,
// numbers, yes/no, choices, argument lists (split like a shell would) and KEY=VALUE maps.
// The checks here only catch typing slips; the server's 422 is the truth, and its message
// is shown under the field it names.

import { ApiError } from "./api.js";
import { splitArgs } from "./shell-words.js";

const WIDE = "sm:col-span-2";
const FULL = "col-span-full";

/** The schema of one parameter without its `null` option (optional parameters have one). */
function plain(schema) {
  const options = (schema.anyOf ?? [schema]).filter((option) => option.type !== "null");
  const types = new Set(options.map((option) => option.type));
  const first = options[0] ?? {};
  if (schema.enum || first.enum) return { ...first, ...schema, type: "enum", enum: schema.enum ?? first.enum };
  // A list of arguments that may also be one string (the command: a string with "shell").
  if (types.has("array")) return { ...first, ...schema, type: "args", orString: types.has("string") };
  return { ...first, ...schema, anyOf: undefined, type: first.type ?? "string" };
}

const title = (name, schema) => schema.title || name.replaceAll("_", " ");

function rangeHint(spec) {
  const low = spec.minimum ?? spec.exclusiveMinimum;
  const high = spec.maximum;
  if (low === undefined && high === undefined) return "";
  if (high === undefined) return `At least ${low}.`;
  if (low === undefined) return `At most ${high}.`;
  return `From ${low} to ${high}.`;
}

/** Put text into `el`, with `backticked` parts as code (descriptions are written that way). */
function putText(el, text) {
  el.replaceChildren(
    ...text.split("`").map((part, i) => {
      if (i % 2 === 0) return part;
      const code = document.createElement("code");
      code.className = "font-mono text-[0.7rem]";
      code.textContent = part;
      return code;
    }),
  );
}

function element(tag, className, attributes = {}) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, value);
  return el;
}

export class KindFields {
  constructor(container) {
    this.container = container;
    this.fields = new Map(); // param name -> {spec, input, hint, help, required}
  }

  /** Build the fields of `kind` ({name, description, params}); null clears them. */
  show(kind) {
    this.container.replaceChildren();
    this.fields.clear();
    this.container.hidden = !kind;
    if (!kind) return;
    if (kind.description) {
      this.container.append(element("p", `${FULL} text-xs text-zinc-500 dark:text-zinc-400`));
      putText(this.container.lastChild, kind.description);
    }
    const required = new Set(kind.params.required ?? []);
    for (const [name, schema] of Object.entries(kind.params.properties ?? {})) {
      this.container.append(this.#field(name, plain(schema), required.has(name)));
    }
  }

  #field(name, spec, required) {
    const id = `param-${name}`;
    const hintId = `${id}-hint`;
    const help = spec.description || rangeHint(spec);
    const wrap = element("div", spec.type === "args" ? FULL : spec.type === "object" ? WIDE : "");
    let input;
    if (spec.type === "boolean") {
      const label = element("label", "mt-5 flex items-center gap-2 text-sm font-medium", { for: id });
      input = element("input", "size-4 rounded accent-indigo-600", { type: "checkbox", id });
      input.checked = spec.default === true;
      label.append(input, title(name, spec));
      wrap.append(label);
    } else {
      const label = element("label", "field-label", { for: id });
      label.textContent = title(name, spec);
      const mark = element("span", "ml-0.5 font-normal text-zinc-400 dark:text-zinc-500");
      mark.textContent = required ? "*" : " (optional)";
      if (required) mark.setAttribute("aria-hidden", "true");
      label.append(mark);
      input = this.#input(id, spec);
      if (required) input.setAttribute("aria-required", "true");
      wrap.append(label, input);
    }
    input.dataset.param = name;
    input.setAttribute("aria-describedby", hintId);
    input.addEventListener("input", () => this.#mark(name, null));
    const hint = element("p", "field-hint data-error:text-red-600 dark:data-error:text-red-400", { id: hintId });
    putText(hint, help);
    wrap.append(hint);
    this.fields.set(name, { spec, input, hint, help, required });
    return wrap;
  }

  #input(id, spec) {
    if (spec.type === "enum") {
      const select = element("select", "field", { id });
      for (const value of spec.enum) {
        const option = element("option");
        option.value = option.textContent = String(value);
        select.append(option);
      }
      if (spec.default !== undefined) select.value = String(spec.default);
      return select;
    }
    if (spec.type === "object") {
      return element("textarea", "field font-mono", {
        id,
        rows: "2",
        spellcheck: "false",
        placeholder: "KEY=VALUE, one per line",
      });
    }
    const numeric = spec.type === "integer" || spec.type === "number";
    const input = element("input", numeric ? "field tabular" : spec.type === "args" ? "field font-mono" : "field", {
      id,
      autocomplete: "off",
      spellcheck: "false",
    });
    if (numeric) input.inputMode = spec.type === "integer" ? "numeric" : "decimal";
    if (spec.type === "args") input.placeholder = "python train.py --epochs 3";
    else if (spec.default !== undefined && spec.default !== null) input.placeholder = String(spec.default);
    return input;
  }

  /** The parameters to send; throws ApiError naming the field when one cannot be read. */
  values() {
    this.showProblems({});
    const params = {};
    const shell = this.fields.get("shell")?.input.checked === true;
    for (const [name, { spec, input, required }] of this.fields) {
      if (spec.type === "boolean") {
        if (input.checked !== (spec.default === true)) params[name] = input.checked;
        continue;
      }
      const text = input.value.trim();
      if (!text) {
        if (required) throw this.#problem(name, "Required.");
        continue;
      }
      params[name] = this.#read(name, spec, text, shell);
    }
    return params;
  }

  #read(name, spec, text, shell) {
    switch (spec.type) {
      case "integer":
      case "number": {
        const value = Number(text);
        const whole = spec.type === "integer";
        if (!Number.isFinite(value) || (whole && !Number.isInteger(value))) {
          throw this.#problem(name, whole ? "Enter a whole number." : "Enter a number.");
        }
        return value;
      }
      case "args": {
        if (shell && spec.orString) return text; // the shell splits it
        try {
          return splitArgs(text);
        } catch (error) {
          throw this.#problem(name, error.message);
        }
      }
      case "object": {
        const map = {};
        for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
          const at = line.indexOf("=");
          if (at < 1) throw this.#problem(name, `Write KEY=VALUE, not "${line}".`);
          map[line.slice(0, at).trim()] = line.slice(at + 1);
        }
        return map;
      }
      case "array":
        return splitArgs(text);
      default:
        return text;
    }
  }

  #problem(name, message) {
    this.#mark(name, message);
    return new ApiError(`${title(name, this.fields.get(name).spec)}: ${message}`, 0, [name]);
  }

  has(name) {
    return this.fields.has(name);
  }

  input(name) {
    return this.fields.get(name)?.input;
  }

  /** Show the server's (or our) complaint under the field; null puts its help back. */
  #mark(name, message) {
    const field = this.fields.get(name);
    if (!field) return;
    if (message) field.hint.textContent = message;
    else putText(field.hint, field.help);
    field.hint.toggleAttribute("data-error", Boolean(message));
    if (message) field.input.setAttribute("aria-invalid", "true");
    else field.input.removeAttribute("aria-invalid");
  }

  /** messages: {field: text} from a 422; fields not named lose their old complaint. */
  showProblems(messages) {
    for (const name of this.fields.keys()) this.#mark(name, messages[name] ?? null);
  }
}
