// A form that starts an explanation job and follows it: its progress bar,
// stage, cancel button, error and summary. The global view and the training
// health view use it.

import { followJob, request } from "./api.js";
import { showError } from "./dom.js";

/**
 * One job form. The form contains [data-progress] (with a <progress> and
 * [data-stage]), [data-cancel], [data-error], [data-summary] and a submit
 * button. Its `data-status` attribute is the job's status.
 *
 * `createJob(form, signal)` sends the request that creates the job and
 * returns the created job. `unavailableReason()` returns why the job cannot
 * run now, or "" when it can. `onResult(result)` receives the result of a
 * job that succeeded.
 */
export class JobForm {
  constructor(form, { createJob, unavailableReason, onResult }) {
    this.form = form;
    this.createJob = createJob;
    this.unavailableReason = unavailableReason;
    this.onResult = onResult;
    this.progress = form.querySelector("[data-progress]");
    this.bar = form.querySelector("progress");
    this.stage = form.querySelector("[data-stage]");
    this.cancelButton = form.querySelector("[data-cancel]");
    this.errorNode = form.querySelector("[data-error]");
    this.summary = form.querySelector("[data-summary]");
    this.submitButton = form.querySelector('button[type="submit"]');
    // Enabled once reset() finds that the job can run.
    this.submitButton.disabled = true;
    this.jobId = null;
    this.follow = null;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    this.cancelButton.addEventListener("click", () => this.cancel());
  }

  /** Stop following the current job, if any, and show whether a new one can run. */
  reset() {
    this.follow?.abort();
    const reason = this.unavailableReason();
    this.form.dataset.status = "idle";
    this.progress.hidden = true;
    this.cancelButton.hidden = true;
    this.submitButton.disabled = Boolean(reason);
    showError(this.errorNode, reason);
    this.summary.textContent = "";
  }

  showProgress(job) {
    this.form.dataset.status = job.status;
    this.progress.hidden = false;
    this.bar.value = job.progress ?? 0;
    const percent = Math.round((job.progress ?? 0) * 100);
    this.stage.textContent = `${job.status}${job.stage && job.stage !== job.status ? `: ${job.stage}` : ""} (${percent} %)`;
  }

  async run() {
    if (!this.form.reportValidity()) return;
    this.follow?.abort();
    const follow = new AbortController();
    this.follow = follow;
    showError(this.errorNode, "");
    this.summary.textContent = "";
    this.submitButton.disabled = true;
    this.cancelButton.hidden = false;
    this.showProgress({ status: "submitting", progress: 0 });

    try {
      const created = await this.createJob(this.form, follow.signal);
      this.jobId = created.id;
      this.showProgress(created);
      const job = await followJob(created.id, (state) => this.showProgress(state), follow.signal);
      this.showProgress(job);
      if (job.status === "succeeded") {
        this.onResult(job.result);
      } else if (job.status === "failed") {
        showError(this.errorNode, `The job failed: ${job.error?.detail || job.error?.title || "no reason was given"}`);
      } else {
        showError(this.errorNode, "The job was cancelled.");
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      showError(this.errorNode, error.message);
    } finally {
      if (this.follow === follow) {
        this.progress.hidden = true;
        this.cancelButton.hidden = true;
        this.submitButton.disabled = Boolean(this.unavailableReason());
        this.jobId = null;
      }
    }
  }

  async cancel() {
    if (!this.jobId) return;
    try {
      await request(`/explanations/${encodeURIComponent(this.jobId)}`, { method: "DELETE" });
    } catch (error) {
      showError(this.errorNode, `Cancelling failed: ${error.message}`);
    }
  }
}
