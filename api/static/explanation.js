// Reading predictions and SHAP explanations of what-if results, and
// rendering them: shared by the "explain a prediction" view and the simulator.

import { contributionChart } from "./charts.js";
import { element, formatChange, formatNumber, formatProbability, formatValue, renderTable, showError } from "./dom.js";

// Rows of the contribution chart; the tables list every feature.
export const MAX_CHART_FEATURES = 15;

export function isClassifier(model) {
  return model.task === "classification";
}

/** Index of the most probable class in one row's probabilities. */
export function predictedClassIndex(probabilities) {
  return probabilities.reduce((best, value, index) => (value > probabilities[best] ? index : best), 0);
}

/**
 * Return the output explained for one row: a class's probability for
 * classifiers, the value for regressors. A what-if prediction is
 * (n_classes,) or (1,).
 */
export function outputOf(prediction, classIndex) {
  return Array.isArray(prediction) ? prediction[classIndex ?? 0] : prediction;
}

/** Format an output as the page shows it: probabilities with 3 decimals, values with 4 significant digits. */
export function formatOutput(model, value) {
  return isClassifier(model) ? formatProbability(value) : formatNumber(value);
}

/** Format a change of a probability with three decimals, wherever it lies. */
function formatProbabilityChange(value) {
  return formatChange(value, (magnitude) => magnitude.toFixed(3));
}

/**
 * List the SHAP value of every feature for the first explained row and one
 * class, with the feature's value in that row, largest contribution first.
 */
export function contributionsOf(explanation, row, classIndex) {
  const values = explanation.values[0];
  return explanation.feature_names
    .map((feature, index) => ({
      feature,
      value: row[feature],
      contribution: outputOf(values[index], classIndex),
    }))
    .sort((a, b) => b.contribution - a.contribution);
}

/** Render a table of class probabilities (or the predicted value), with the change when given. */
export function renderPredictionTable(container, model, prediction, change) {
  const caption = change ? "Prediction and change against the original row" : "Prediction";
  if (!isClassifier(model)) {
    const cells = [element("td", { "data-output": "value" }, formatNumber(outputOf(prediction, 0)))];
    const headers = ["Predicted value"];
    if (change) {
      headers.push("Change");
      cells.push(formatChange(outputOf(change, 0), formatNumber));
    }
    renderTable(container, caption, headers, [cells]);
    return;
  }

  const predicted = predictedClassIndex(prediction);
  const headers = change ? ["Class", "Probability", "Change"] : ["Class", "Probability"];
  const rows = model.class_names.map((name, index) => {
    const probability = element("span", { className: "probability" },
      element("span", { className: "bar", style: `--share: ${prediction[index]}`, "aria-hidden": "true" }),
      element("span", { "data-probability-for": name }, formatProbability(prediction[index])));
    const label = index === predicted ? element("strong", {}, `${name} (predicted)`) : name;
    const cells = [label, probability];
    if (change) cells.push(formatProbabilityChange(change[index]));
    return cells;
  });
  renderTable(container, caption, headers, rows);
}

/**
 * Grey out a prediction panel and show `message`. The last request failed,
 * so the prediction left on screen belongs to an earlier request. The next
 * successful render sets the state back to "ready".
 */
export function markStale(container, errorNode, message) {
  container.dataset.state = "error";
  showError(errorNode, message);
}

/** Write one sentence for the live region: the predicted class or value, and its change. */
export function predictionSentence(model, prediction, change) {
  if (!isClassifier(model)) {
    const value = formatNumber(outputOf(prediction, 0));
    return change
      ? `Predicted value ${value} (${formatChange(outputOf(change, 0), formatNumber)} against the original row).`
      : `Predicted value ${value}.`;
  }
  const index = predictedClassIndex(prediction);
  const name = model.class_names[index];
  const sentence = `Predicted class ${name}, probability ${formatProbability(prediction[index])}`;
  return change ? `${sentence} (${formatProbabilityChange(change[index])} against the original row).` : `${sentence}.`;
}

/** Draw the largest contributions, by absolute value, as signed bars. */
export function drawContributions(canvas, contributions, xTitle) {
  const largest = [...contributions]
    .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
    .slice(0, MAX_CHART_FEATURES);
  contributionChart(canvas, {
    labels: largest.map((item) => `${item.feature} = ${formatValue(item.value)}`),
    values: largest.map((item) => item.contribution),
    xTitle,
  });
}

/** Render a table of features with their values and signed contributions. */
export function renderContributionTable(container, caption, contributions) {
  if (contributions.length === 0) {
    container.replaceChildren(element("p", { className: "hint" }, "None."));
    return;
  }
  renderTable(container, caption, ["Feature", "Value", "Contribution"],
    contributions.map((item) => [item.feature, formatValue(item.value), formatChange(item.contribution, formatNumber)]),
    { hideCaption: true });
}
