// The model simulator: change a row's feature values and see the prediction,
// its SHAP explanation and the focused feature's ICE curve follow.

import { request } from "./api.js";
import { iceChart } from "./charts.js";
import { FeatureControl } from "./controls.js";
import { CounterfactualPanel } from "./counterfactuals.js";
import { byId, element, showError } from "./dom.js";
import {
  contributionsOf, drawContributions, isClassifier, markStale, outputOf, predictedClassIndex, predictionSentence,
  renderPredictionTable,
} from "./explanation.js";

// Wait this long after the last control change before asking for a prediction.
const UPDATE_DELAY_MS = 250;
const ICE_POINTS = 40;

export class Simulator {
  constructor() {
    this.panel = byId("panel-simulator");
    this.prediction = byId("sim-prediction");
    this.controls = [];
    this.stale = true;
    this.updateTimer = null;
    this.whatIf = null;
    this.sweep = null;
    this.latest = null;
    // Why the selection cannot be predicted (a row index out of range), or null.
    this.invalidMessage = null;

    this.counterfactuals = new CounterfactualPanel({
      currentRow: () => this.latest?.changed_row,
      apply: (row) => this.applyRow(row),
    });
    byId("sim-reset").addEventListener("click", () => this.applyRow(this.original));
    byId("sim-class").addEventListener("change", () => {
      if (!this.latest) return;
      this.renderExplanation(this.latest);
      this.refreshIce();
    });
    byId("ice-feature").addEventListener("change", () => this.refreshIce());
    byId("sim-controls").addEventListener("submit", (event) => event.preventDefault());
  }

  setSelection(selection) {
    this.selection = selection;
    this.stale = true;
    this.invalidMessage = null;
  }

  /**
   * Mark the shown prediction out of date because the selection is unusable,
   * such as a row index out of range. Control changes are not sent until a
   * usable selection arrives, because they belong to the earlier row.
   */
  invalidate(message) {
    this.invalidMessage = message;
    clearTimeout(this.updateTimer);
    this.whatIf?.abort();
    this.counterfactuals.invalidate();
    markStale(this.prediction, byId("sim-error"), message);
  }

  show() {
    if (this.stale && this.selection && !this.invalidMessage && !this.panel.hidden) this.build();
  }

  classIndex() {
    return isClassifier(this.selection.model) ? Number(byId("sim-class").value) : null;
  }

  /** Load the original row, then build one control per model feature. */
  async build() {
    this.stale = false;
    const { model, schema } = this.selection;
    clearTimeout(this.updateTimer);
    this.whatIf?.abort();
    this.prediction.dataset.state = "loading";
    byId("sim-fields").replaceChildren(element("p", { className: "hint" }, "Loading the row…"));

    let base;
    try {
      base = await this.query({});
    } catch (error) {
      if (error.name === "AbortError") return;
      byId("sim-fields").replaceChildren();
      markStale(this.prediction, byId("sim-error"), `Loading row ${this.selection.rowIndex} failed: ${error.message}`);
      return;
    }

    this.original = base.original_row;
    const columns = new Map(schema.columns.map((column) => [column.name, column]));
    this.controls = model.feature_names.map((name, index) => new FeatureControl(
      columns.get(name) ?? { name, kind: "categorical", categories: [] },
      index,
      this.original[name],
      { onInput: () => this.scheduleUpdate(), onFocus: (control) => this.focusFeature(control.name) },
    ));
    byId("sim-fields").replaceChildren(...this.controls.map((control) => control.element));

    const classSelect = byId("sim-class");
    classSelect.closest("[data-class-field]").hidden = !isClassifier(model);
    const classes = model.class_names ?? [];
    classSelect.replaceChildren(...classes.map((name, index) => element("option", {
      value: index,
      selected: index === classes.length - 1,
    }, name)));
    byId("ice-feature").replaceChildren(...model.feature_names.map((name) => element("option", { value: name }, name)));

    this.counterfactuals.setSelection(this.selection, base.prediction_before);
    this.render(base, {});
    this.refreshIce();
  }

  /** POST /what-if for the selected row with `changes`, cancelling the previous query. */
  query(changes) {
    const { model, dataset, rowIndex } = this.selection;
    this.whatIf?.abort();
    this.whatIf = new AbortController();
    return request("/what-if", {
      method: "POST",
      json: { model_id: model.id, dataset_id: dataset.id, row_index: rowIndex, changes, explain: true },
      signal: this.whatIf.signal,
    });
  }

  changes() {
    return Object.fromEntries(this.controls.filter((control) => control.isChanged)
      .map((control) => [control.name, control.value]));
  }

  scheduleUpdate() {
    if (this.invalidMessage) {
      markStale(this.prediction, byId("sim-error"), this.invalidMessage);
      return;
    }
    this.prediction.dataset.state = "loading";
    clearTimeout(this.updateTimer);
    this.updateTimer = setTimeout(() => this.update(), UPDATE_DELAY_MS);
  }

  async update() {
    const changes = this.changes();
    this.prediction.dataset.state = "loading";
    let result;
    try {
      result = await this.query(changes);
    } catch (error) {
      if (error.name === "AbortError") return;
      markStale(this.prediction, byId("sim-error"), `Predicting the changed row failed: ${error.message}`);
      return;
    }
    this.render(result, changes);
    this.refreshIce();
  }

  /** Set every control to `row`'s values and predict at once. */
  applyRow(row) {
    if (!this.controls.length || this.invalidMessage) return;
    for (const control of this.controls) control.value = row[control.name];
    clearTimeout(this.updateTimer);
    this.update();
  }

  render(result, changes) {
    const { model } = this.selection;
    this.latest = result;
    showError(byId("sim-error"), "");
    const prediction = result.prediction_after;
    const changed = Object.keys(changes).length > 0;
    Object.assign(this.prediction.dataset, {
      state: "ready",
      prediction: JSON.stringify(prediction),
      changes: JSON.stringify(changes),
    });
    if (isClassifier(model)) {
      this.prediction.dataset.predictedClass = model.class_names[predictedClassIndex(prediction)];
    } else {
      delete this.prediction.dataset.predictedClass;
    }
    byId("sim-prediction-text").textContent = predictionSentence(model, prediction, changed ? result.prediction_change : null);
    renderPredictionTable(byId("sim-prediction-detail"), model, prediction, changed ? result.prediction_change : null);
    this.renderExplanation(result);
  }

  renderExplanation(result) {
    const canvas = byId("sim-chart");
    const caption = byId("sim-chart-caption");
    if (!result.explanation) {
      caption.textContent = `No explanation: ${(result.notes || []).join(" ") || "the model cannot be explained with SHAP."}`;
      return;
    }
    const classIndex = this.classIndex();
    const className = classIndex === null ? null : this.selection.model.class_names[classIndex];
    drawContributions(canvas, contributionsOf(result.explanation, result.changed_row, classIndex),
      className ? `Contribution to the probability of ${className}` : `Contribution (${result.explanation.output_space})`);
    caption.textContent = `Contributions to the changed row's ${className ? `probability of ${className}` : "prediction"}: ` +
      "red raises it, blue lowers it";
  }

  focusFeature(name) {
    const select = byId("ice-feature");
    if (select.value === name) return;
    select.value = name;
    this.refreshIce();
  }

  /** Sweep the chosen feature over its grid on the current row, and mark the current value. */
  async refreshIce() {
    if (!this.latest) return;
    const { model, dataset } = this.selection;
    const feature = byId("ice-feature").value;
    const row = this.latest.changed_row;
    const currentOutput = outputOf(this.latest.prediction_after, this.classIndex());
    this.sweep?.abort();
    const sweep = new AbortController();
    this.sweep = sweep;

    let result;
    try {
      result = await request("/what-if/sweep", {
        method: "POST",
        json: { model_id: model.id, dataset_id: dataset.id, row, feature, n_points: ICE_POINTS },
        signal: sweep.signal,
      });
    } catch (error) {
      if (error.name === "AbortError") return;
      showError(byId("ice-error"), `The ICE curve of ${feature} failed: ${error.message}`);
      return;
    }
    showError(byId("ice-error"), "");

    const classIndex = this.classIndex();
    const className = classIndex === null ? null : model.class_names[classIndex];
    const categorical = result.grid.some((value) => typeof value !== "number");
    const current = row[feature];
    const canvas = byId("ice-chart");
    Object.assign(canvas.dataset, { feature, marker: JSON.stringify(current ?? null) });
    iceChart(canvas, {
      grid: result.grid,
      values: result.predictions[0].map((point) => outputOf(point, classIndex)),
      categorical,
      marker: current === null || current === undefined ? null : { x: current, y: currentOutput },
      xTitle: current === null || current === undefined ? `${feature} (the current value is missing)` : feature,
      yTitle: className ? `Probability of ${className}` : "Predicted value",
    });
  }
}
