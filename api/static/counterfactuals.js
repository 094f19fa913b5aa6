// Counterfactual search in the simulator: the smallest changes to the current
// row that reach a target class (classifiers) or a target range (regressors).

import { request } from "./api.js";
import { byId, element, formatNumber, formatValue, showError } from "./dom.js";
import { formatOutput, isClassifier, outputOf, predictedClassIndex } from "./explanation.js";

const N_COUNTERFACTUALS = 3;

/** Return the most probable class that is not predicted: the class a user most likely wants to reach. */
function otherClassIndex(probabilities) {
  const predicted = predictedClassIndex(probabilities);
  return probabilities.reduce((best, value, index) => {
    if (index === predicted) return best;
    return best === null || value > probabilities[best] ? index : best;
  }, null);
}

/**
 * Return a target range on the other side of the median of the dataset's
 * target: [75 % quantile, max] for a prediction below the median, else
 * [min, 25 % quantile].
 */
function defaultRange(prediction, targetColumn) {
  const quantiles = targetColumn?.quantiles;
  if (!quantiles) return [prediction * 1.1, null];
  return prediction < quantiles["0.5"] ? [quantiles["0.75"], targetColumn.max] : [targetColumn.min, quantiles["0.25"]];
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

  setSelection(selection, basePrediction) {
    this.selection = selection;
    this.searching?.abort();
    this.list.replaceChildren();
    this.status.textContent = "";
    showError(this.errorNode, "");

    const { model, dataset, schema } = selection;
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
      const [low, high] = defaultRange(outputOf(basePrediction, 0), targetColumn);
      byId("cf-low").value = low === null ? "" : String(low);
      byId("cf-high").value = high === null ? "" : String(high);
    }
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
      apply.addEventListener("click", () => this.apply(counterfactual.row ?? { ...sentRow, ...counterfactual.changes }));
      return element("li", { className: "counterfactual", "data-reaches-target": String(Boolean(counterfactual.reaches_target)) },
        element("p", {},
          element("strong", {}, title), ": ",
          `${changes.length} ${changes.length === 1 ? "change" : "changes"}, distance ${formatNumber(counterfactual.distance)}; `,
          `prediction ${this.describePrediction(counterfactual.prediction)}; `,
          counterfactual.reaches_target ? "reaches the target." : "does not reach the target."),
        element("ul", { className: "changes" }, changes.map(([feature, value]) => element("li", {},
          element("span", { className: "feature-name" }, feature), `: ${formatValue(sentRow[feature])} → ${formatValue(value)}`))),
        apply);
    }));
  }
}
