// Global view: permutation importance and SHAP, run as explanation jobs,
// with a progress bar while they run.

import { request } from "./api.js";
import { beeswarmChart, importanceChart } from "./charts.js";
import { byId, element, formatNumber, integerField, renderTable } from "./dom.js";
import { isClassifier } from "./explanation.js";
import { JobForm } from "./job-form.js";

const SCORERS = {
  classification: ["accuracy", "balanced_accuracy", "roc_auc", "neg_log_loss"],
  regression: ["r2", "neg_mean_absolute_error", "neg_mean_squared_error", "neg_root_mean_squared_error"],
};
// Features shown in the SHAP summary, the most important first.
const MAX_SUMMARY_FEATURES = 20;

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

export class GlobalView {
  constructor() {
    this.permutation = new JobForm(byId("permutation-form"), {
      createJob: (form, signal) => this.createJob("permutation", {
        scoring: form.elements.scoring.value || null,
        n_repeats: integerField(form, "n_repeats"),
        max_rows: integerField(form, "max_rows"),
        random_state: integerField(form, "random_state"),
      }, signal),
      unavailableReason: () => this.unavailableReason("permutation"),
      onResult: (result) => this.showPermutation(result),
    });
    this.shap = new JobForm(byId("shap-form"), {
      createJob: (form, signal) => this.createJob("shap", {
        n_rows: integerField(form, "n_rows"),
        background_size: integerField(form, "background_size"),
        random_state: integerField(form, "random_state"),
      }, signal),
      unavailableReason: () => this.unavailableReason("shap"),
      onResult: (result) => {
        this.shapResult = result;
        this.shapSelection = this.selection;
        this.showShap();
      },
    });
    byId("shap-class").addEventListener("change", () => this.shapResult && this.showShap());
  }

  createJob(method, parameters, signal) {
    const { model, dataset } = this.selection;
    return request("/explanations", {
      method: "POST",
      json: { model_id: model.id, dataset_id: dataset.id, method, parameters },
      signal,
    });
  }

  unavailableReason(method) {
    const { model } = this.selection;
    return model.methods.includes(method) ? "" : `The model ${model.name || model.id} does not support ${method}.`;
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
    this.permutation.reset();
    this.shap.reset();
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
