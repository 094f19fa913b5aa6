// HTTP calls to the explanation service, and following explanation jobs.
//
// Paths are resolved against the service root, the parent of the page's
// /ui/ folder, so the page also works behind a proxy that adds a path prefix.

const SERVICE_ROOT = new URL("../", document.baseURI);
// How often a job is polled when its event stream is unavailable, in ms.
const JOB_POLL_MS = 500;
const FINAL_STATES = new Set(["succeeded", "failed", "cancelled"]);

/** An HTTP error, with the problem+json `detail` as its message where there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem.detail || problem.title || `HTTP ${status}`;
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

export function serviceUrl(path) {
  return new URL(path.replace(/^\//, ""), SERVICE_ROOT).toString();
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      // A body that claims JSON but is not falls through to the status line.
    }
  }
  return { title: `${response.status} ${response.statusText}`, detail: `${response.status} ${response.statusText}` };
}

/**
 * Send a request and return the parsed JSON body.
 *
 * `json` is sent as application/json, `form` (a FormData) as multipart. A
 * response with an error status raises ApiError; an unreachable service
 * raises ApiError with status 0.
 */
export async function request(path, { method = "GET", json, form, signal } = {}) {
  const options = { method, signal, headers: { Accept: "application/json" } };
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  } else if (form !== undefined) {
    options.body = form;
  }

  let response;
  try {
    response = await fetch(serviceUrl(path), options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { detail: `The service could not be reached (${error.message}). Check that it is running.` });
  }
  if (!response.ok) {
    throw new ApiError(response.status, await problemOf(response));
  }
  return response.status === 204 ? null : response.json();
}

function pollJob(jobId, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const poll = async () => {
      try {
        const job = await request(`/explanations/${encodeURIComponent(jobId)}`, { signal });
        onProgress(job);
        if (FINAL_STATES.has(job.status)) {
          resolve(job);
        } else {
          setTimeout(poll, JOB_POLL_MS);
        }
      } catch (error) {
        reject(error);
      }
    };
    poll();
  });
}

/**
 * Follow a job until it ends and return it, with its result when it succeeded.
 *
 * Progress comes from the server-sent events at /explanations/{id}/events;
 * when the stream fails or closes early, the job is polled instead.
 * `onProgress` receives {status, progress, stage, error} at every change.
 */
export function followJob(jobId, onProgress, signal) {
  const path = `/explanations/${encodeURIComponent(jobId)}`;
  return new Promise((resolve, reject) => {
    const events = new EventSource(serviceUrl(`${path}/events`));
    let settled = false;
    // `next` starts the last step only for the first event that ends the stream,
    // so an abort after the job ended leaves no rejected promise unhandled.
    const finish = (next) => {
      if (settled) return;
      settled = true;
      events.close();
      next().then(resolve, reject);
    };

    signal?.addEventListener("abort", () => finish(() => Promise.reject(new DOMException("Aborted", "AbortError"))));
    events.addEventListener("progress", (event) => onProgress(JSON.parse(event.data)));
    events.addEventListener("end", () => finish(() => request(path, { signal })));
    // EventSource would reconnect by itself; polling is simpler to reason about.
    events.addEventListener("error", () => finish(() => pollJob(jobId, onProgress, signal)));
  });
}
