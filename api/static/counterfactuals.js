// Counterfactual search in the simulator: the smallest changes to the current
// row that reach a target class (classifiers) or a target range (regressors).

import { request } from "./api.js";
import { byId, element, formatNumber, formatValue, showError } from "./dom.js";
import { formatOutput, isClassifier, outputOf, predictedClassIndex } from "./explanation.js";

const N_COUNTERFACTUALS = 3;
// A counterfactual that changes more features than this is shown collapsed.
const MAX_LISTED_CHANGES = 5;
// The default target range of a regressor starts this fraction above the current prediction.
const DEFAULT_RAISE = 0.1;
// Decimals shown for a float feature: at least 1, at most MAX_DECIMALS.
const MAX_DECIMALS = 10;

/** Return the most probable class that is not predicted: the class a user most likely wants to reach. */
function otherClassIndex(probabilities) {
  const predicted = predictedClassIndex(probabilities);
  return probabilities.reduce((best, value, index) => {
    if (index === predicted) return best;
    return best === null || value > probabilities[best] ? index : best;
  }, null);
}

/** Round `value` up to `digits` significant digits: 448,837 to 449,000. */
function ceilSignificant(value, digits) {
  if (value === 0) return 0;
  const scale = 10 ** (Math.floor(Math.log10(Math.abs(value))) - digits + 1);
  return Number((Math.ceil(value / scale) * scale).toPrecision(digits));
}

/**
 * Return the default target range of a regressor: at least 10 % above the
 * current prediction, rounded up to three significant digits, with no upper
 * bound. A prediction of 0 gets a lower bound of 10 % of the target's
 * interquartile range, or 1 without one.
 */
function defaultRange(prediction, targetColumn) {
  const quantiles = targetColumn?.quantiles;
  const spread = quantiles ? quantiles["0.75"] - quantiles["0.25"] : 0;
  const step = prediction !== 0 ? Math.abs(prediction) * DEFAULT_RAISE : spread * DEFAULT_RAISE || 1;
  return [ceilSignificant(prediction + step, 3), null];
}

/** Count the decimals of a number as written, ignoring binary rounding noise (40.62610000000001 has 4). */
function decimalsOf(value) {
  const text = String(Number(value.toPrecision(12)));
  if (text.includes("e")) return MAX_DECIMALS;
  const point = text.indexOf(".");
  return point < 0 ? 0 : text.length - point - 1;
}

/**
 * Return the decimals a float column's values are recorded with, judged from
 * the minimum and maximum in its schema, which are values of the data.
 */
function columnDecimals(column) {
  const extremes = [column?.min, column?.max].filter(Number.isFinite);
  return Math.min(MAX_DECIMALS, Math.max(1, ...extremes.map(decimalsOf)));
}

function formatDecimals(value, decimals) {
  return value.toLocaleString("en-US", { maximumFractionDigits: decimals });
}

/**
 * Format a counterfactual's change of a feature as "old → new". Integer
 * columns show integers. Float columns show the decimals of the column's
 * data, and more where old and new would otherwise read the same.
 */
function describeChange(column, before, after) {
  if (typeof before !== "number" || typeof after !== "number") return `${formatValue(before)} → ${formatValue(after)}`;
  if (column?.is_integer) return `${formatDecimals(Math.round(before), 0)} → ${formatDecimals(Math.round(after), 0)}`;
  let decimals = columnDecimals(column);
  while (decimals < MAX_DECIMALS && before !== after && before.toFixed(decimals) === after.toFixed(decimals)) {
    decimals += 1;
  }
  return `${formatDecimals(before, decimals)} → ${formatDecimals(after, decimals)}`;
}

function optionalNumber(input) {
  return input.value === "" ? null : input.valueAsNumber;
}

export class CounterfactualPanel {
  /** `currentRow()` returns the simulator's changed row; `apply(row)` sets the controls to a row. */
  constructor({ currentRow, apply }) {
    this.currentRow = currentRow;
    this.apply = apply;
    this.list = byId("cf-list");
    this.status = byId("cf-status");
    this.errorNode = byId("cf-error");
    this.button = byId("cf-find");
    this.searching = null;
    this.button.addEventListener("click", () => this.find());
  }

  /** Stop a running search and disable the search until the next `setSelection`, because the row is unusable. */
  invalidate() {
    this.searching?.abort();
    this.searching = null;
    this.button.disabled = true;
  }

  setSelection(selection, basePrediction) {
    this.selection = selection;
    this.searching?.abort();
    this.button.disabled = false;
    this.list.replaceChildren();
    this.status.textContent = "";
    showError(this.errorNode, "");

    const { model, dataset, schema } = selection;
    this.columns = new Map(schema.columns.map((column) => [column.name, column]));
    const classifier = isClassifier(model);
    byId("cf-class-field").hidden = !classifier;
    byId("cf-low-field").hidden = classifier;
    byId("cf-high-field").hidden = classifier;
    if (classifier) {
      const target = otherClassIndex(basePrediction);
      byId("cf-class").replaceChildren(...model.class_names.map((name, index) => element("option", {
        value: name,
        selected: index === target,
      }, name)));
    } else {
      const targetColumn = schema.columns.find((column) => column.name === dataset.target);
      const current = outputOf(basePrediction, 0);
      const [low, high] = defaultRange(current, targetColumn);
      byId("cf-low").value = low === null ? "" : String(low);
      byId("cf-high").value = high === null ? "" : String(high);
      byId("cf-range-hint").textContent = `The default target is at least 10 % above the row's prediction ` +
        `(${formatNumber(current)}). Edit the bounds for another target, and leave one empty for no bound.`;
    }
    byId("cf-range-hint").hidden = classifier;
  }

  /**
   * Return `counterfactual`'s row as the controls should take it: integer
   * columns rounded to integers, other values exactly as the service returned
   * them, so that the prediction still reaches the target.
   */
  appliedRow(counterfactual, sentRow) {
    const row = { ...(counterfactual.row ?? { ...sentRow, ...counterfactual.changes }) };
    for (const feature of Object.keys(counterfactual.changes ?? {})) {
      if (typeof row[feature] === "number" && this.columns.get(feature)?.is_integer) row[feature] = Math.round(row[feature]);
    }
    return row;
  }

  /** Build the target part of the request, or return an error message for an unusable range. */
  target() {
    if (isClassifier(this.selection.model)) {
      return { target_class: byId("cf-class").value };
    }
    const low = optionalNumber(byId("cf-low"));
    const high = optionalNumber(byId("cf-high"));
    if (low === null && high === null) return "Enter a lower bound, an upper bound or both for the target.";
    if (low !== null && high !== null && low > high) {
      return `The target's lower bound (${formatNumber(low)}) must not exceed its upper bound (${formatNumber(high)}).`;
    }
    return { target_range: [low, high] };
  }

  async find() {
    const row = this.currentRow();
    if (!row) return;
    const target = this.target();
    if (typeof target === "string") {
      showError(this.errorNode, target);
      return;
    }
    const { model, dataset } = this.selection;
    this.searching?.abort();
    const searching = new AbortController();
    this.searching = searching;
    showError(this.errorNode, "");
    this.list.replaceChildren();
    this.status.textContent = "Searching…";
    this.button.disabled = true;

    try {
      const response = await request("/what-if/counterfactuals", {
        method: "POST",
        json: {
          model_id: model.id, dataset_id: dataset.id, row, ...target,
          n_counterfactuals: N_COUNTERFACTUALS, random_state: 0,
        },
        signal: searching.signal,
      });
      this.render(response, row);
    } catch (error) {
      if (error.name === "AbortError") return;
      this.status.textContent = "";
      showError(this.errorNode, `The counterfactual search failed: ${error.message}`);
    } finally {
      if (this.searching === searching) this.button.disabled = false;
    }
  }

  describePrediction(prediction) {
    const { model } = this.selection;
    if (Array.isArray(prediction) && isClassifier(model)) {
      const index = predictedClassIndex(prediction);
      return `${model.class_names[index]} (${formatOutput(model, prediction[index])})`;
    }
    return typeof prediction === "number" || Array.isArray(prediction)
      ? formatOutput(model, outputOf(prediction, 0)) : String(prediction);
  }

  render(response, sentRow) {
    const found = response.counterfactuals ?? [];
    // The service sends a message when it found fewer than requested.
    const message = response.message || `${response.n_found ?? found.length} found.`;
    this.status.textContent = message.charAt(0).toUpperCase() + message.slice(1);
    this.list.replaceChildren(...found.map((counterfactual, index) => {
      const changes = Object.entries(counterfactual.changes ?? {});
      const title = `Option ${index + 1}`;
      const apply = element("button", { type: "button", className: "secondary", "aria-label": `Apply ${title.toLowerCase()}` }, "Apply");
      apply.addEventListener("click", () => this.apply(this.appliedRow(counterfactual, sentRow)));
      const list = element("ul", { className: "changes" }, changes.map(([feature, value]) => element("li", {},
        element("span", { className: "feature-name" }, feature),
        `: ${describeChange(this.columns.get(feature), sentRow[feature], value)}`)));
      return element("li", { className: "counterfactual", "data-reaches-target": String(Boolean(counterfactual.reaches_target)) },
        element("p", {},
          element("strong", {}, title), ": ",
          `${changes.length} ${changes.length === 1 ? "change" : "changes"}, distance ${formatNumber(counterfactual.distance)}; `,
          `prediction ${this.describePrediction(counterfactual.prediction)}; `,
          counterfactual.reaches_target ? "reaches the target." : "does not reach the target."),
        changes.length > MAX_LISTED_CHANGES
          ? element("details", { className: "many-changes" },
            element("summary", {}, `This option changes many features (${changes.length}): show them`), list)
          : list,
        apply);
    }));
  }
}
