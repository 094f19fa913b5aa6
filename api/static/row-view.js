// "Explain a prediction": one dataset row's prediction, and the features
// that support and contradict it, from the SHAP values of a what-if query
// without changes.

import { request } from "./api.js";
import { byId, formatNumber, showError } from "./dom.js";
import {
  contributionsOf, drawContributions, formatOutput, isClassifier, markStale, MAX_CHART_FEATURES, outputOf,
  predictedClassIndex, predictionSentence, renderContributionTable, renderPredictionTable,
} from "./explanation.js";

export class RowView {
  constructor() {
    this.panel = byId("panel-row");
    this.container = byId("row-prediction");
    this.stale = true;
    this.loading = null;
    // Why the selection cannot be explained (a row index out of range), or null.
    this.invalidMessage = null;
  }

  setSelection(selection) {
    this.selection = selection;
    this.stale = true;
    this.invalidMessage = null;
  }

  show() {
    if (this.stale && this.selection && !this.invalidMessage && !this.panel.hidden) this.load();
  }

  /**
   * Mark the shown prediction out of date because the selection is unusable,
   * such as a row index out of range. Nothing loads until a usable selection arrives.
   */
  invalidate(message) {
    this.invalidMessage = message;
    this.loading?.abort();
    markStale(this.container, byId("row-error"), message);
  }

  async load() {
    this.stale = false;
    const { model, dataset, rowIndex } = this.selection;
    this.loading?.abort();
    const loading = new AbortController();
    this.loading = loading;
    this.container.dataset.state = "loading";
    showError(byId("row-error"), "");

    let result;
    try {
      result = await request("/what-if", {
        method: "POST",
        json: { model_id: model.id, dataset_id: dataset.id, row_index: rowIndex, changes: {}, explain: true },
        signal: loading.signal,
      });
    } catch (error) {
      if (error.name === "AbortError") return;
      markStale(this.container, byId("row-error"), `Explaining row ${rowIndex} failed: ${error.message}`);
      return;
    }
    this.render(result);
  }

  render(result) {
    const { model, rowIndex } = this.selection;
    const prediction = result.prediction_after;
    const classIndex = isClassifier(model) ? predictedClassIndex(prediction) : null;
    this.container.dataset.state = "ready";
    this.container.dataset.prediction = JSON.stringify(prediction);
    byId("row-prediction-text").textContent = `Row ${rowIndex}: ${predictionSentence(model, prediction)}`;
    renderPredictionTable(byId("row-prediction-detail"), model, prediction);

    const explanation = result.explanation;
    if (!explanation) {
      byId("row-base").textContent = `No explanation: ${(result.notes || []).join(" ") || "the model cannot be explained with SHAP."}`;
      return;
    }
    const className = classIndex === null ? null : model.class_names[classIndex];
    const contributions = contributionsOf(explanation, result.original_row, classIndex);
    const base = outputOf(explanation.base_values[0], classIndex);
    const output = className ? `probability of ${className}` : "predicted value";
    byId("row-base").textContent =
      `The ${output} starts from ${formatOutput(model, base)}, the average over ${explanation.background_size ?? "the"} ` +
      `background rows, and the contributions below add up to ${formatOutput(model, outputOf(explanation.predictions[0], classIndex))}` +
      ` (SHAP values in ${explanation.output_space}).`;

    byId("supports-title").textContent = className ? `Supporting ${className}` : "Raising the prediction";
    byId("contradicts-title").textContent = className ? `Against ${className}` : "Lowering the prediction";
    renderContributionTable(byId("row-supports"), byId("supports-title").textContent,
      contributions.filter((item) => item.contribution > 0));
    renderContributionTable(byId("row-contradicts"), byId("contradicts-title").textContent,
      contributions.filter((item) => item.contribution < 0).reverse());
    drawContributions(byId("row-chart"), contributions,
      className ? `Contribution to the probability of ${className}` : `Contribution (${explanation.output_space})`);
    byId("row-chart-caption").textContent =
      `Row ${rowIndex}: the ${Math.min(contributions.length, MAX_CHART_FEATURES)} largest contributions, red toward and blue away from ` +
      `${className ?? "a higher value"} (largest additivity error ${formatNumber(explanation.max_additivity_error)})`;
  }
}
