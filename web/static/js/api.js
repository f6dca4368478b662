// The REST calls the page makes, with server errors turned into sentences people can act on.

export class ApiError extends Error {
  constructor(message, status, fields = [], messages = {}) {
    super(message);
    this.status = status;
    this.fields = fields; // body fields a 422 complained about, e.g. ["duration"]
    this.messages = messages; // what it said about each, by top-level field: {rounds: "..."}
  }
}

/** {"detail": "..."} or FastAPI's 422 {"detail": [{"loc": [...], "msg": ...}]} -> text. */
function explain(status, body) {
  const detail = body?.detail;
  if (Array.isArray(detail)) {
    const fields = detail.map((d) => (d.loc ?? []).filter((p) => p !== "body").join("."));
    const lines = detail.map((d, i) => (fields[i] ? `${fields[i]}: ${d.msg}` : d.msg));
    const messages = {};
    fields.forEach((field, i) => {
      const top = field.split(".")[0];
      if (top) messages[top] = messages[top] ? `${messages[top]}; ${detail[i].msg}` : detail[i].msg;
    });
    return new ApiError(lines.join("; "), status, fields.filter(Boolean), messages);
  }
  if (typeof detail === "string") return new ApiError(detail, status);
  return new ApiError(`The server answered ${status}.`, status);
}

async function call(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("Cannot reach the server. Is Task Dashboard still running?", 0);
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw explain(response.status, payload);
  return payload;
}

export const api = {
  addTask: (spec) => call("POST", "/tasks/add", spec),
  cancelTask: (taskId) => call("POST", "/tasks/cancel", { task_id: taskId }),
  pauseTask: (taskId) => call("POST", `/tasks/${encodeURIComponent(taskId)}/pause`),
  resumeTask: (taskId) => call("POST", `/tasks/${encodeURIComponent(taskId)}/resume`),
  retryTask: (taskId) => call("POST", `/tasks/${encodeURIComponent(taskId)}/retry`),
  /** change: {priority: n} or {front: true}. */
  reprioritize: (taskId, change) =>
    call("POST", `/tasks/${encodeURIComponent(taskId)}/priority`, change),
  clearFinished: () => call("DELETE", "/tasks/finished"),
  task: (taskId) => call("GET", `/tasks/${encodeURIComponent(taskId)}`),
  /** Series for the charts: see GET /stats (query: range, bucket, status, kind, search). */
  stats: (query) => call("GET", `/stats?${new URLSearchParams(query)}`),
  /** A page of the list, newest first: {tasks, counts, total}; filter: {status, kind, search}. */
  listTasks: (filter, offset, limit) => {
    const query = new URLSearchParams({ offset: String(offset), limit: String(limit) });
    for (const [key, value] of Object.entries(filter)) if (value) query.set(key, value);
    return call("GET", `/tasks/status?${query}`);
  },
  /** Every task kind: [{name, description, resumable, requires_token, params: JSON Schema}]. */
  kinds: () => call("GET", "/kinds"),
  /** A piece of a task's log: {offset, next_offset, text, dropped, complete}. */
  logs: (taskId, offset, limit = 262144) =>
    call("GET", `/tasks/${encodeURIComponent(taskId)}/logs?offset=${offset}&limit=${limit}`),
  /** Where tasks can run: [{name: "local", default}, {name: "dask", default, address, connected,
   * workers, threads, error}] (the dask entry only while a scheduler is set). */
  executors: () => call("GET", "/executors"),
  /** Settings: {max_concurrent, queue_paused, notify, notify_min_seconds, executor, scheduler}. */
  settings: () => call("GET", "/settings"),
  updateSettings: (changes) => call("PUT", "/settings", changes),
  pauseQueue: () => call("POST", "/queue/pause"),
  resumeQueue: () => call("POST", "/queue/resume"),
  /** Cheap authenticated probe: tells "server down" from "token no longer valid". */
  probe: () => call("GET", "/tasks/status?limit=1"),
};
