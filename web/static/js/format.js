// Turning seconds and timestamps into words people read, and friendly text into seconds.

const UNITS = { d: 86400, h: 3600, m: 60, s: 1 };
const UNIT_PATTERN = /(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)?\s*/gy;

/**
 * Parse "90", "1.5", "1m30s", "2h 5m", "1:30" or "1:02:03" into seconds.
 * Returns null for text that is not a duration, so callers can say what is wrong.
 */
export function parseDuration(text) {
  const value = text.trim().toLowerCase();
  if (!value) return null;
  if (/^\d+(:\d{1,2}){1,2}$/.test(value)) {
    return value.split(":").reduce((total, part) => total * 60 + Number(part), 0);
  }
  let total = 0;
  let unitless = 0;
  UNIT_PATTERN.lastIndex = 0;
  while (UNIT_PATTERN.lastIndex < value.length) {
    const match = UNIT_PATTERN.exec(value);
    if (!match) return null;
    const [, number, unit] = match;
    if (!unit) unitless += 1;
    total += Number(number) * (unit === "ms" ? 0.001 : UNITS[unit ?? "s"]);
  }
  // "1m 30" reads as 1m30s, but "10 20" is a typo, not 30 seconds.
  return unitless > 1 ? null : total;
}

/** 5400 -> "1h 30m", 90 -> "1m 30s", 4.2 -> "4.2s". */
export function formatDuration(seconds) {
  if (seconds < 10 && !Number.isInteger(seconds)) return `${seconds.toFixed(1)}s`;
  let rest = Math.round(seconds);
  const parts = [];
  for (const [unit, size] of Object.entries(UNITS)) {
    if (rest >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/** A countdown that stays steady: "1:05:09", "4:09", "0:07". */
export function formatClock(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
const STEPS = [
  [60, 1, "second"],
  [3600, 60, "minute"],
  [86400, 3600, "hour"],
  [Infinity, 86400, "day"],
];

/** "12 sec. ago", "2 min. ago", "in 3 hr." (ms timestamps). */
export function relativeTime(then, now) {
  const delta = (then - now) / 1000;
  if (Math.abs(delta) < 5) return "just now";
  for (const [limit, size, unit] of STEPS) {
    if (Math.abs(delta) < limit) return RELATIVE.format(Math.trunc(delta / size), unit);
  }
  return "";
}

const EXACT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function exactTime(ms) {
  return EXACT.format(ms);
}

/** "tcp://127.0.0.1:41079" -> "127.0.0.1:41079": the usual scheme says little in a tight row. */
export const shortAddress = (address) => (address ?? "").replace(/^tcp:\/\//, "");
