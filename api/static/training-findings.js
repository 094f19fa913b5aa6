// The findings of a training health diagnosis: their titles, the charts that
// mark them, and the findings list with its thresholds and notes.

import { byId, element, formatNumber, renderTable } from "./dom.js";

// The title of each problem, the quantity of its `measured` figure, and the
// side of its threshold on which a finding lies. `chart` names the chart that
// draws the flagged items red: "gradient" (gradient norm bars), "weights" (L2
// norm lines), "dead" or "saturated" (unit bars), or "loss" (the loss line).
const PROBLEMS = {
  "vanishing-gradients": { title: "Vanishing gradients", measured: "Gradient norm relative to the last weight matrix's", side: "below", chart: "gradient" },
  "exploding-gradients": { title: "Exploding gradients", measured: "Gradient norm relative to the last weight matrix's", side: "above", chart: "gradient" },
  "diverging-gradients": { title: "Diverging gradients", measured: "Gradient norm relative to the first checkpoint's", side: "above", chart: "gradient" },
  "exploding-weights": { title: "Exploding weights", measured: "L2 norm relative to the first checkpoint's", side: "above", chart: "weights" },
  "collapsing-weights": { title: "Collapsing weights", measured: "L2 norm relative to the first checkpoint's", side: "below", chart: "weights" },
  "dead-relu-units": { title: "Dead ReLU units", measured: "Fraction of units that output zero on every row", side: "above", chart: "dead" },
  "saturated-units": { title: "Saturated units", measured: "Fraction of activations near an asymptote", side: "above", chart: "saturated" },
  "non-finite-weights": { title: "Non-finite weights", measured: "NaN or infinite values", side: "above", chart: "weights" },
  "rising-loss": { title: "Rising loss", measured: "Loss relative to the first checkpoint's", side: "above", chart: "loss" },
  "diverging-loss": { title: "Diverging loss", measured: "Loss relative to the first checkpoint's", side: "above", chart: "loss" },
};

const THRESHOLDS = {
  near_zero_epsilon: "A weight counts as near zero below this absolute value",
  saturation_distance: "A sigmoid or tanh output counts as saturated within this distance of an asymptote",
  dead_unit_fraction: "Dead ReLU units: flagged above this fraction of a layer's units",
  saturated_fraction: "Saturated units: flagged above this fraction of a layer's activations",
  vanishing_gradient_ratio: "Vanishing gradients: flagged below this multiple of the last weight matrix's gradient norm",
  exploding_gradient_ratio: "Exploding gradients: flagged above this multiple of the last weight matrix's gradient norm",
  diverging_gradient_factor: "Diverging gradients: flagged above this multiple of the tensor's gradient norm at the first checkpoint",
  weight_growth_factor: "Exploding weights: flagged above this multiple of the first checkpoint's L2 norm",
  weight_collapse_factor: "Collapsing weights: flagged below this multiple of the first checkpoint's L2 norm",
  rising_loss_factor: "Rising loss: flagged when the last checkpoint's loss is above this multiple of the first's",
  diverging_loss_factor: "Diverging loss: flagged above this multiple of the first checkpoint's loss",
};

// Checkpoint labels are listed in full up to this many. Longer lists are cut in the middle.
const MAX_LISTED_CHECKPOINTS = 8;

/**
 * Return the description of a finding's problem. A problem this page does
 * not know gets its name as the title ("new-problem" reads "New problem")
 * and is marked on no chart.
 */
export function problemOf(finding) {
  return PROBLEMS[finding.problem]
    ?? { title: sentenceCase(finding.problem.replaceAll("-", " ")), measured: "Measured", side: "beyond", chart: null };
}

/** Return whether a finding that `chart` marks flags `layer` at checkpoint `epoch`. */
export function isFlagged(findings, chart, layer, epoch) {
  return findings.some((finding) => problemOf(finding).chart === chart && finding.layer === layer
    && finding.checkpoints.includes(epoch));
}

/** Return `text` with its first letter capitalized. */
export function sentenceCase(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Start `text` with a capital letter and end it with a full stop. */
export function sentence(text) {
  const capitalized = sentenceCase(text.trim());
  return /[.!?]$/.test(capitalized) ? capitalized : `${capitalized}.`;
}

function listCheckpoints(labels, total) {
  const listed = labels.length <= MAX_LISTED_CHECKPOINTS
    ? labels.join(", ")
    : `${labels.slice(0, 3).join(", ")}, …, ${labels[labels.length - 1]}`;
  return `${listed} (${labels.length} of ${total})`;
}

/** Show the findings grouped by problem, the thresholds and the notes of a diagnosis `result`. */
export function renderFindings(result) {
  const { findings, thresholds, epochs } = result;
  const container = byId("training-findings");
  const details = byId("training-thresholds");
  if (!findings.length) {
    container.replaceChildren(element("p", { className: "all-clear", id: "training-all-clear" },
      "No problems found: every statistic is within the thresholds below."));
  } else {
    const groups = new Map();
    for (const finding of findings) {
      if (!groups.has(finding.problem)) groups.set(finding.problem, []);
      groups.get(finding.problem).push(finding);
    }
    container.replaceChildren(...[...groups].map(([problem, group]) => findingGroup(problem, group, epochs.length)));
  }
  details.open = !findings.length;
  renderTable(details.querySelector("[data-table]"), "Thresholds of the findings", ["Check", "Threshold"],
    Object.entries(thresholds).map(([name, value]) => [THRESHOLDS[name] ?? name, formatNumber(value)]),
    { hideCaption: true });

  const notes = [...result.notes];
  if (!result.n_rows) {
    notes.push("Without a dataset only the weights are described: choose one for activation statistics and gradient norms.");
  }
  byId("training-notes").replaceChildren(...notes.map((note) => element("li", {}, sentence(note))));
}

// A finding without a layer, such as one on the loss, describes the whole network.
const WHOLE_NETWORK = "Whole network";

function findingGroup(problem, group, nCheckpoints) {
  const description = problemOf(group[0]);
  const layerCount = group.filter((finding) => finding.layer !== null).length;
  let layers = "";
  if (layerCount === 1) layers = ": 1 layer";
  if (layerCount > 1) layers = `: ${layerCount} layers`;
  const remedies = group[0].remedies ?? [];
  return element("section", { className: "finding-group", "data-problem": problem },
    element("h3", {}, `${description.title}${layers}`),
    element("ul", { className: "findings" }, group.map((finding) => element("li", {
      className: "finding",
      "data-problem": finding.problem,
      "data-layer": finding.layer,
    },
    element("p", {}, element("strong", {}, finding.layer ?? WHOLE_NETWORK),
      `, worst at checkpoint ${finding.checkpoint}${finding.message ? `: ${sentence(finding.message)}` : "."}`),
    element("p", { className: "figures" },
      `${description.measured}: ${formatNumber(finding.measured)}, flagged ${description.side} ${formatNumber(finding.threshold)}. ` +
      `Crossed at checkpoints ${listCheckpoints(finding.checkpoints, nCheckpoints)}.`)))),
    remedies.length ? element("p", { className: "remedies-title" }, "Remedies:") : null,
    remedies.length ? element("ul", { className: "remedies" }, remedies.map((remedy) => element("li", {}, sentence(remedy)))) : null,
  );
}
