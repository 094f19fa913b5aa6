// Training health: upload or pick a checkpoint series, run its diagnosis as
// a job, and show the weight histograms, gradient norms, weight norms, update
// ratios and unit fractions per checkpoint, with the problems they show.

import { ApiError, request } from "./api.js";
import { COLORS, horizontalBars } from "./charts.js";
import { coversFeatures, matchingDataset } from "./dataset-match.js";
import { byId, element, formatNumber, integerField, renderTable, showError } from "./dom.js";
import { checkpointLinesChart, epochGradient, histogramChart, valueScale } from "./health-charts.js";
import { JobForm } from "./job-form.js";

// The title of each problem, the quantity of its `measured` figure, and the
// side of its threshold on which a finding lies.
const PROBLEMS = {
  "vanishing-gradients": { title: "Vanishing gradients", measured: "Gradient norm relative to the last weight matrix's", side: "below" },
  "exploding-gradients": { title: "Exploding gradients", measured: "Gradient norm relative to the last weight matrix's", side: "above" },
  "exploding-weights": { title: "Exploding weights", measured: "L2 norm relative to the first checkpoint's", side: "above" },
  "collapsing-weights": { title: "Collapsing weights", measured: "L2 norm relative to the first checkpoint's", side: "below" },
  "dead-relu-units": { title: "Dead ReLU units", measured: "Fraction of units that output zero on every row", side: "above" },
  "saturated-units": { title: "Saturated units", measured: "Fraction of activations near an asymptote", side: "above" },
  "non-finite-weights": { title: "Non-finite weights", measured: "NaN or infinite values", side: "above" },
};

const THRESHOLDS = {
  near_zero_epsilon: "A weight counts as near zero below this absolute value",
  saturation_distance: "A sigmoid or tanh output counts as saturated within this distance of an asymptote",
  dead_unit_fraction: "Dead ReLU units: flagged above this fraction of a layer's units",
  saturated_fraction: "Saturated units: flagged above this fraction of a layer's activations",
  vanishing_gradient_ratio: "Vanishing gradients: flagged below this multiple of the last weight matrix's gradient norm",
  exploding_gradient_ratio: "Exploding gradients: flagged above this multiple of the last weight matrix's gradient norm",
  weight_growth_factor: "Exploding weights: flagged above this multiple of the first checkpoint's L2 norm",
  weight_collapse_factor: "Collapsing weights: flagged below this multiple of the first checkpoint's L2 norm",
};

const ACTIVATION_COLORS = { dead: COLORS.lower, saturated: COLORS.marker };
// Checkpoint labels are listed in full up to this many. Longer lists are cut in the middle.
const MAX_LISTED_CHECKPOINTS = 8;

function problemOf(finding) {
  return PROBLEMS[finding.problem] ?? { title: finding.problem, measured: "Measured", side: "beyond" };
}

/** Start `text` with a capital letter and end it with a full stop. */
function sentence(text) {
  const trimmed = text.trim();
  const capitalized = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalized) ? capitalized : `${capitalized}.`;
}

function listCheckpoints(labels, total) {
  const listed = labels.length <= MAX_LISTED_CHECKPOINTS
    ? labels.join(", ")
    : `${labels.slice(0, 3).join(", ")}, …, ${labels[labels.length - 1]}`;
  return `${listed} (${labels.length} of ${total})`;
}

function joinNumbers(values) {
  return values.map(formatNumber).join(", ");
}

function shapeText(shape) {
  return shape.length ? shape.join(" × ") : "scalar";
}

/** Order files by name, comparing the digits in names as numbers (epoch-2 before epoch-10). */
function byNaturalName(files) {
  return [...files].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

/** Split comma-separated epoch labels, returning null when there are none. */
function parseEpochLabels(text) {
  const labels = text.split(",").map((label) => label.trim()).filter(Boolean);
  return labels.length ? labels : null;
}

function describeSeries(series) {
  const classes = series.class_names ? ` (${series.class_names.join(", ")})` : "";
  const epochs = series.epochs;
  const parameters = series.tensors.filter((tensor) => tensor.kind === "parameter").length;
  return `${series.format} ${series.task}${classes}; ${series.feature_names.length} features; ` +
    `${epochs.length} checkpoints, epochs ${epochs[0]} to ${epochs[epochs.length - 1]}; ${parameters} parameter tensors.`;
}

export class TrainingView {
  constructor() {
    this.seriesSelect = byId("checkpoints-select");
    this.datasetSelect = byId("training-dataset");
    this.tensorSelect = byId("training-tensor");
    this.checkpointSlider = byId("training-checkpoint");
    this.seriesList = [];
    this.datasets = [];
    this.result = null;

    this.job = new JobForm(byId("training-form"), {
      createJob: (form, signal) => this.createJob(form, signal),
      unavailableReason: () => (this.selectedSeries() ? "" : "Upload a checkpoint series with the form to run the diagnosis."),
      onResult: (result) => this.showResult(result),
    });
    this.seriesSelect.addEventListener("change", () => this.selectSeries());
    this.tensorSelect.addEventListener("change", () => this.drawHistogram());
    this.checkpointSlider.addEventListener("input", () => {
      this.drawHistogram();
      this.drawCheckpointBars();
    });
    this.setUpUpload();
  }

  setSelection() {}

  show() {
    this.loadLists();
  }

  selectedSeries() {
    return this.seriesList.find((series) => series.id === this.seriesSelect.value) ?? null;
  }

  /** Load the checkpoint series and the datasets, keeping the chosen ones (or choosing `seriesId`). */
  async loadLists({ seriesId } = {}) {
    const errorNode = byId("checkpoints-error");
    try {
      const [{ checkpoints }, { datasets }] = await Promise.all([request("/checkpoints"), request("/datasets")]);
      this.seriesList = checkpoints;
      this.datasets = datasets;
    } catch (error) {
      showError(errorNode, `Loading the checkpoint series failed: ${error.message}`);
      return;
    }
    showError(errorNode, "");

    const previous = this.seriesSelect.value;
    const chosen = this.seriesList.find((series) => series.id === seriesId)
      ?? this.seriesList.find((series) => series.id === previous) ?? this.seriesList[0];
    this.seriesSelect.replaceChildren(...this.seriesList.map((series) => element("option", {
      value: series.id,
      selected: series === chosen,
    }, series.name || series.id)));

    const previousDataset = this.datasetSelect.value;
    this.datasetSelect.replaceChildren(
      element("option", { value: "" }, "none: describe the weights only"),
      ...this.datasets.map((dataset) => element("option", { value: dataset.id }, dataset.name || dataset.id)),
    );
    const keepDataset = previousDataset === "" || this.datasets.some((dataset) => dataset.id === previousDataset);
    if (chosen && chosen.id === previous && keepDataset) {
      this.datasetSelect.value = previousDataset;
    } else {
      this.selectSeries();
    }
  }

  /** Describe the chosen series, choose its dataset, and clear the results of another series. */
  selectSeries() {
    const series = this.selectedSeries();
    byId("checkpoints-summary").textContent = series
      ? describeSeries(series) : "No checkpoint series is uploaded.";
    const dataset = series && matchingDataset(series, this.datasets);
    this.datasetSelect.value = dataset && coversFeatures(dataset, series) ? dataset.id : "";
    byId("training-results").hidden = true;
    this.result = null;
    this.job.reset();
  }

  createJob(form, signal) {
    const series = this.selectedSeries();
    const datasetId = this.datasetSelect.value || null;
    this.running = { series, dataset: this.datasets.find((dataset) => dataset.id === datasetId) ?? null };
    return request(`/checkpoints/${encodeURIComponent(series.id)}/diagnoses`, {
      method: "POST",
      json: {
        dataset_id: datasetId,
        parameters: {
          n_bins: integerField(form, "n_bins"),
          max_rows: integerField(form, "max_rows"),
          near_zero_epsilon: form.elements.near_zero_epsilon.valueAsNumber,
          random_state: integerField(form, "random_state"),
        },
      },
      signal,
    });
  }

  showResult(result) {
    this.result = result;
    const { dataset } = this.running;
    const epochs = result.epochs;
    const loss = result.loss
      ? ` Loss ${formatNumber(result.loss[0])} at epoch ${epochs[0]}, ${formatNumber(result.loss[result.loss.length - 1])} at epoch ${epochs[epochs.length - 1]}.`
      : "";
    const rows = result.n_rows ? `${formatNumber(result.n_rows)} rows of ${dataset?.name || dataset?.id}` : "no dataset";
    this.job.summary.textContent =
      `${epochs.length} checkpoints, ${Object.keys(result.weights).length} tensors, ${rows}; ${result.elapsed_seconds.toFixed(2)} s.${loss}`;

    const tensors = Object.keys(result.weights);
    const flagged = result.findings.map((finding) => finding.layer).find((layer) => layer in result.weights);
    const firstWeight = tensors.find((name) => result.weights[name].kind === "weight");
    this.tensorSelect.replaceChildren(...tensors.map((name) => element("option", {
      value: name,
      selected: name === (flagged ?? firstWeight ?? tensors[0]),
    }, `${name} (${shapeText(result.weights[name].shape)})`)));
    this.checkpointSlider.max = epochs.length - 1;
    this.checkpointSlider.value = epochs.length - 1;

    byId("training-results").hidden = false;
    this.renderFindings();
    this.drawHistogram();
    this.drawCheckpointBars();
    this.drawWeightLines();
  }

  renderFindings() {
    const { findings, thresholds, epochs } = this.result;
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
      container.replaceChildren(...[...groups].map(([problem, group]) => this.findingGroup(problem, group, epochs.length)));
    }
    details.open = !findings.length;
    renderTable(details.querySelector("[data-table]"), "Thresholds of the findings", ["Check", "Threshold"],
      Object.entries(thresholds).map(([name, value]) => [THRESHOLDS[name] ?? name, formatNumber(value)]),
      { hideCaption: true });

    const notes = [...this.result.notes];
    if (!this.result.n_rows) {
      notes.push("Without a dataset only the weights are described: choose one for activation statistics and gradient norms.");
    }
    byId("training-notes").replaceChildren(...notes.map((note) => element("li", {}, sentence(note))));
  }

  findingGroup(problem, group, nCheckpoints) {
    const description = problemOf(group[0]);
    const layers = group.length === 1 ? "1 layer" : `${group.length} layers`;
    return element("section", { className: "finding-group", "data-problem": problem },
      element("h3", {}, `${description.title}: ${layers}`),
      element("ul", { className: "findings" }, group.map((finding) => element("li", {
        className: "finding",
        "data-problem": finding.problem,
        "data-layer": finding.layer,
      },
      element("p", {}, element("strong", {}, finding.layer), `, worst at checkpoint ${finding.checkpoint}: ${sentence(finding.message)}`),
      element("p", { className: "figures" },
        `${description.measured}: ${formatNumber(finding.measured)}, flagged ${description.side} ${formatNumber(finding.threshold)}. ` +
        `Crossed at checkpoints ${listCheckpoints(finding.checkpoints, nCheckpoints)}.`)))),
      element("p", { className: "remedies-title" }, "Remedies:"),
      element("ul", { className: "remedies" }, group[0].remedies.map((remedy) => element("li", {}, sentence(remedy)))),
    );
  }

  checkpointPosition() {
    return this.checkpointSlider.valueAsNumber;
  }

  drawHistogram() {
    const { epochs, weights } = this.result;
    const name = this.tensorSelect.value;
    const entry = weights[name];
    const position = this.checkpointPosition();
    const edges = entry.histogram_edges;
    const figure = byId("histogram-figure");
    const canvas = byId("histogram-chart");
    canvas.dataset.tensor = name;
    byId("histogram-caption").textContent =
      `Weight histogram of ${name} (${shapeText(entry.shape)}) at each checkpoint, on ${edges.length - 1} bins ` +
      `shared by all checkpoints; epoch ${epochs[position]} is drawn wider`;
    histogramChart(canvas, { edges, counts: entry.histogram_counts, epochs, highlighted: position, xTitle: `Value of ${name}` });

    figure.querySelector("[data-first-epoch]").textContent = `epoch ${epochs[0]}`;
    figure.querySelector("[data-last-epoch]").textContent = `epoch ${epochs[epochs.length - 1]}`;
    figure.querySelector(".gradient.epochs").style.background = epochGradient();
    renderTable(figure.querySelector("[data-table]"),
      `${name}: ${edges.length - 1} bins from ${formatNumber(edges[0])} to ${formatNumber(edges[edges.length - 1])}, ` +
      `each ${formatNumber(edges[1] - edges[0])} wide`,
      ["Epoch", "Mean", "Standard deviation", "Near zero", "NaN or infinite", "Count per bin"],
      epochs.map((epoch, index) => [epoch, formatNumber(entry.mean[index]), formatNumber(entry.std[index]),
        formatNumber(entry.near_zero_fraction[index]), formatNumber(entry.nan_count[index] + entry.inf_count[index]),
        entry.histogram_counts[index].join(", ")]));
  }

  /** Return whether a finding flags `layer` at checkpoint `epoch`. */
  isFlagged(layer, epoch) {
    return this.result.findings.some((finding) => finding.layer === layer && finding.checkpoints.includes(epoch));
  }

  drawCheckpointBars() {
    const position = this.checkpointPosition();
    const epoch = this.result.epochs[position];
    byId("training-checkpoint-label").textContent = `epoch ${epoch}`;
    this.checkpointSlider.setAttribute("aria-valuetext", `epoch ${epoch}`);
    this.drawGradients(position, epoch);
    this.drawActivations(position, epoch);
  }

  drawGradients(position, epoch) {
    const { gradients } = this.result;
    const figure = byId("gradient-figure");
    const names = Object.keys(gradients);
    figure.hidden = !names.length;
    if (!names.length) return;

    const norms = names.map((name) => gradients[name].norm[position]);
    const flagged = names.map((name) => this.isFlagged(name, epoch));
    const scale = valueScale(norms);
    byId("gradient-caption").textContent =
      `Gradient norm of the loss per tensor at epoch ${epoch}; red: flagged at this checkpoint`;
    horizontalBars(byId("gradient-chart"), {
      labels: names,
      datasets: [{
        label: "Gradient norm",
        data: norms,
        backgroundColor: flagged.map((isFlagged) => (isFlagged ? COLORS.raise : COLORS.bar)),
      }],
      xTitle: scale.type === "logarithmic" ? "Gradient norm (log scale)" : "Gradient norm",
      xScale: scale,
    });
    renderTable(figure.querySelector("[data-table]"), `Gradient norm per tensor at epoch ${epoch}`,
      ["Tensor", "Gradient norm", "Flagged"],
      names.map((name, index) => [name, formatNumber(norms[index]), flagged[index] ? "yes" : "no"]));
  }

  drawActivations(position, epoch) {
    const { activations, thresholds } = this.result;
    const figure = byId("activation-figure");
    const hasValues = (values) => values.some((value) => value !== null);
    const layers = Object.keys(activations).filter((name) =>
      hasValues(activations[name].dead_fraction) || hasValues(activations[name].saturated_fraction));
    figure.hidden = !layers.length;
    if (!layers.length) return;

    const datasets = [];
    if (layers.some((name) => hasValues(activations[name].dead_fraction))) {
      datasets.push({ label: "Dead units", data: layers.map((name) => activations[name].dead_fraction[position]), backgroundColor: ACTIVATION_COLORS.dead });
    }
    if (layers.some((name) => hasValues(activations[name].saturated_fraction))) {
      datasets.push({ label: "Saturated activations", data: layers.map((name) => activations[name].saturated_fraction[position]), backgroundColor: ACTIVATION_COLORS.saturated });
    }
    const percent = (value) => `${formatNumber(value * 100)} %`;
    byId("activation-caption").textContent =
      `Dead ReLU units and saturated sigmoid or tanh activations per layer at epoch ${epoch}; dead units are ` +
      `flagged above ${percent(thresholds.dead_unit_fraction)}, saturated activations above ${percent(thresholds.saturated_fraction)}`;
    horizontalBars(byId("activation-chart"), {
      labels: layers,
      datasets,
      xTitle: "Fraction",
      xScale: { min: 0, max: 1, ticks: { callback: (value) => percent(value) } },
    });
    const fraction = (value) => (value === null ? "—" : percent(value));
    renderTable(figure.querySelector("[data-table]"), `Unit fractions per layer at epoch ${epoch}`,
      ["Layer", "Kind", "Dead units", "Saturated activations", "Zero outputs"],
      layers.map((name) => {
        const entry = activations[name];
        return [name, entry.kind, fraction(entry.dead_fraction[position]), fraction(entry.saturated_fraction[position]),
          fraction(entry.zero_fraction[position])];
      }));
  }

  drawWeightLines() {
    const { epochs, weights } = this.result;
    const names = Object.keys(weights).filter((name) => weights[name].kind === "weight");
    const norms = names.map((name) => ({ name, values: weights[name].l2_norm }));
    checkpointLinesChart(byId("weight-norm-chart"), { epochs, series: norms, yTitle: "L2 norm" });
    renderTable(byId("weight-norm-figure").querySelector("[data-table]"),
      `L2 norm per weight tensor at epochs ${epochs.join(", ")}`, ["Tensor", "L2 norm per checkpoint"],
      norms.map((line) => [line.name, joinNumbers(line.values)]));

    // The first checkpoint has no previous one, so its ratio is null.
    const ratioFigure = byId("update-ratio-figure");
    ratioFigure.hidden = epochs.length < 2;
    if (epochs.length < 2) return;
    const ratios = names.map((name) => ({ name, values: weights[name].update_ratio.slice(1) }));
    checkpointLinesChart(byId("update-ratio-chart"), { epochs: epochs.slice(1), series: ratios, yTitle: "Update-to-weight ratio" });
    renderTable(ratioFigure.querySelector("[data-table]"),
      `Update-to-weight ratio per weight tensor at epochs ${epochs.slice(1).join(", ")}`,
      ["Tensor", "Ratio per checkpoint"], ratios.map((line) => [line.name, joinNumbers(line.values)]));
  }

  setUpUpload() {
    const form = byId("checkpoints-upload");
    const weightsInput = byId("checkpoints-weights");
    const epochsInput = byId("checkpoints-epochs");
    const orderList = byId("checkpoints-order");
    const status = byId("checkpoints-upload-status");
    const errorNode = byId("checkpoints-upload-error");

    const showOrder = () => {
      const labels = parseEpochLabels(epochsInput.value);
      orderList.replaceChildren(...byNaturalName(weightsInput.files).map((file, index) =>
        element("li", {}, `epoch ${labels?.[index] ?? index}: ${file.name}`)));
    };
    weightsInput.addEventListener("change", showOrder);
    epochsInput.addEventListener("input", showOrder);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const files = byNaturalName(weightsInput.files);
      const labels = parseEpochLabels(epochsInput.value);
      const metadataText = byId("checkpoints-metadata").value.trim();
      showError(errorNode, "");
      status.textContent = "";
      if (labels && labels.length !== files.length) {
        showError(errorNode, `Epoch labels must give one label per weights file: ${files.length} files, ${labels.length} labels.`);
        return;
      }
      let metadata = null;
      if (metadataText) {
        try {
          metadata = JSON.parse(metadataText);
        } catch (error) {
          showError(errorNode, `Metadata must be a JSON object, such as {"task": "classification"}: ${error.message}`);
          return;
        }
        if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
          showError(errorNode, `Metadata must be a JSON object, such as {"task": "classification"}, got ${metadataText}.`);
          return;
        }
      }

      const body = new FormData();
      body.append("architecture", byId("checkpoints-architecture").files[0]);
      for (const file of files) body.append("weights", file);
      if (labels) body.append("epochs", JSON.stringify(labels));
      const name = byId("checkpoints-name").value.trim();
      if (name) body.append("name", name);
      if (metadata) body.append("metadata", JSON.stringify(metadata));

      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      status.textContent = "Uploading…";
      try {
        const series = await request("/checkpoints", { method: "POST", form: body });
        status.textContent = `Checkpoint series ${series.name || series.id} uploaded: ${describeSeries(series)}`;
        form.reset();
        orderList.replaceChildren();
        await this.loadLists({ seriesId: series.id });
      } catch (error) {
        status.textContent = "";
        showError(errorNode, `Upload failed: ${error instanceof ApiError ? error.message : error}`);
      } finally {
        button.disabled = false;
      }
    });
  }
}
