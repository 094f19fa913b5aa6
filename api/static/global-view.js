// Global view: permutation importance and SHAP, run as explanation jobs,
// with a progress bar while they run.

import { followJob, request } from "./api.js";
import { beeswarmChart, importanceChart } from "./charts.js";
import { byId, element, formatNumber, renderTable, showError } from "./dom.js";
import { isClassifier } from "./explanation.js";

const SCORERS = {
  classification: ["accuracy", "balanced_accuracy", "roc_auc", "neg_log_loss"],
  regression: ["r2", "neg_mean_absolute_error", "neg_mean_squared_error", "neg_root_mean_squared_error"],
};
// Features shown in the SHAP summary, the most important first.
const MAX_SUMMARY_FEATURES = 20;

function integerField(form, name) {
  const value = form.elements[name].valueAsNumber;
  return Number.isInteger(value) ? value : null;
}

/** Place `value` between the 5 % and 95 % quantiles of its column, as a fraction clipped to 0..1. */
function colorFraction(value, column) {
  if (value === null || value === undefined || !column) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value !== "number" || column.kind !== "numeric") return null;
  let low = column.quantiles?.["0.05"];
  let high = column.quantiles?.["0.95"];
  if (!(high > low)) {
    low = column.min;
    high = column.max;
  }
  if (!(high > low)) return 0.5;
  return Math.min(1, Math.max(0, (value - low) / (high - low)));
}

/** One explanation job form: its inputs, progress bar, cancel button and messages. */
class JobForm {
  constructor(form, method, { parameters, onResult }) {
    this.form = form;
    this.method = method;
    this.parameters = parameters;
    this.onResult = onResult;
    this.progress = form.querySelector("[data-progress]");
    this.bar = form.querySelector("progress");
    this.stage = form.querySelector("[data-stage]");
    this.cancelButton = form.querySelector("[data-cancel]");
    this.errorNode = form.querySelector("[data-error]");
    this.summary = form.querySelector("[data-summary]");
    this.submitButton = form.querySelector('button[type="submit"]');
    // Enabled once a model and a dataset are selected.
    this.submitButton.disabled = true;
    this.jobId = null;
    this.follow = null;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    this.cancelButton.addEventListener("click", () => this.cancel());
  }

  setSelection(selection) {
    this.selection = selection;
    this.follow?.abort();
    this.reset();
  }

  supportsMethod() {
    return this.selection.model.methods.includes(this.method);
  }

  reset() {
    this.form.dataset.status = "idle";
    this.progress.hidden = true;
    this.cancelButton.hidden = true;
    this.submitButton.disabled = !this.supportsMethod();
    showError(this.errorNode, this.supportsMethod()
      ? "" : `The model ${this.selection.model.name || this.selection.model.id} does not support ${this.method}.`);
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
    const { model, dataset } = this.selection;
    this.follow?.abort();
    const follow = new AbortController();
    this.follow = follow;
    showError(this.errorNode, "");
    this.summary.textContent = "";
    this.submitButton.disabled = true;
    this.cancelButton.hidden = false;
    this.showProgress({ status: "submitting", progress: 0 });

    try {
      const created = await request("/explanations", {
        method: "POST",
        json: { model_id: model.id, dataset_id: dataset.id, method: this.method, parameters: this.parameters(this.form) },
        signal: follow.signal,
      });
      this.jobId = created.id;
      this.showProgress(created);
      const job = await followJob(created.id, (state) => this.showProgress(state), follow.signal);
      this.showProgress(job);
      if (job.status === "succeeded") {
        this.onResult(job.result, this.selection);
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
        this.submitButton.disabled = !this.supportsMethod();
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

export class GlobalView {
  constructor() {
    this.permutation = new JobForm(byId("permutation-form"), "permutation", {
      parameters: (form) => ({
        scoring: form.elements.scoring.value || null,
        n_repeats: integerField(form, "n_repeats"),
        max_rows: integerField(form, "max_rows"),
        random_state: integerField(form, "random_state"),
      }),
      onResult: (result) => this.showPermutation(result),
    });
    this.shap = new JobForm(byId("shap-form"), "shap", {
      parameters: (form) => ({
        n_rows: integerField(form, "n_rows"),
        background_size: integerField(form, "background_size"),
        random_state: integerField(form, "random_state"),
      }),
      onResult: (result, selection) => {
        this.shapResult = result;
        this.shapSelection = selection;
        this.showShap();
      },
    });
    byId("shap-class").addEventListener("change", () => this.shapResult && this.showShap());
  }

  setSelection(selection) {
    const previous = this.selection;
    this.selection = selection;
    // The row index does not matter here: keep the charts when only it changed.
    if (previous?.model.id === selection.model.id && previous?.dataset.id === selection.dataset.id) return;
    const { model } = selection;
    const scoring = byId("permutation-scoring");
    scoring.replaceChildren(
      element("option", { value: "" }, "model default"),
      ...SCORERS[model.task].map((name) => element("option", { value: name }, name)),
    );

    const classSelect = byId("shap-class");
    const classField = classSelect.closest("[data-class-field]");
    classField.hidden = !isClassifier(model);
    const classes = model.class_names ?? [];
    classSelect.replaceChildren(...classes.map((name, index) => element("option", {
      value: index,
      selected: index === classes.length - 1,
    }, name)));

    this.shapResult = null;
    for (const id of ["permutation-figure", "shap-importance-figure", "shap-summary-figure"]) byId(id).hidden = true;
    this.permutation.setSelection(selection);
    this.shap.setSelection(selection);
  }

  show() {}

  showPermutation(result) {
    const order = result.feature_names.map((_, index) => index)
      .sort((a, b) => result.importances_mean[b] - result.importances_mean[a]);
    const figure = byId("permutation-figure");
    figure.hidden = false;
    importanceChart(byId("permutation-chart"), {
      labels: order.map((index) => result.feature_names[index]),
      values: order.map((index) => result.importances_mean[index]),
      errors: order.map((index) => result.importances_std[index]),
      details: order.map((index) => `repeats: ${result.importances[index].map(formatNumber).join(", ")}`),
      xTitle: `Decrease in ${result.scoring}`,
      label: "Mean decrease",
    });
    renderTable(figure.querySelector("[data-table]"), "Permutation importance per feature",
      ["Feature", "Mean", "Standard deviation", "Repeats"],
      order.map((index) => [result.feature_names[index], formatNumber(result.importances_mean[index]),
        formatNumber(result.importances_std[index]), result.importances[index].map(formatNumber).join(", ")]));
    this.permutation.summary.textContent =
      `Scoring ${result.scoring}: ${formatNumber(result.baseline_score)} on ${formatNumber(result.n_rows)} rows ` +
      `before permuting; ${result.importances[0]?.length ?? 0} repeats; ${result.elapsed_seconds.toFixed(2)} s.`;
  }

  showShap() {
    const result = this.shapResult;
    const { model, schema } = this.shapSelection;
    const classIndex = isClassifier(model) ? Number(byId("shap-class").value) : null;
    const className = isClassifier(model) ? model.class_names[classIndex] : null;
    const pick = (value) => (classIndex === null ? value : value[classIndex]);
    const meanAbs = result.mean_abs.map(pick);
    const order = result.feature_names.map((_, index) => index).sort((a, b) => meanAbs[b] - meanAbs[a]);
    const space = className ? `${result.output_space} of ${className}` : result.output_space;

    const importanceFigure = byId("shap-importance-figure");
    importanceFigure.hidden = false;
    importanceChart(byId("shap-importance-chart"), {
      labels: order.map((index) => result.feature_names[index]),
      values: order.map((index) => meanAbs[index]),
      xTitle: `Mean |SHAP value| (${space})`,
      label: "Mean |SHAP value|",
    });
    renderTable(importanceFigure.querySelector("[data-table]"), "Mean absolute SHAP value per feature",
      ["Feature", "Mean |SHAP value|"], order.map((index) => [result.feature_names[index], formatNumber(meanAbs[index])]));

    const columns = new Map(schema.columns.map((column) => [column.name, column]));
    const features = order.slice(0, MAX_SUMMARY_FEATURES).map((index) => {
      const name = result.feature_names[index];
      const values = result.data.map((row) => row[name] ?? null);
      return {
        name,
        values,
        shap: result.values.map((row) => pick(row[index])),
        colorFraction: values.map((value) => colorFraction(value, columns.get(name))),
      };
    });
    byId("shap-summary-figure").hidden = false;
    beeswarmChart(byId("shap-summary-chart"), { features, xTitle: `SHAP value (${space})` });

    this.shap.summary.textContent =
      `${result.explainer} explainer on ${result.values.length} rows, background ${result.background_size ?? "—"} rows` +
      `${result.background_method ? ` (${result.background_method})` : ""}, output space ${result.output_space}; ` +
      `largest additivity error ${Number(result.max_additivity_error).toExponential(1)}; ${result.elapsed_seconds.toFixed(2)} s.`;
  }
}
