// Training health: upload or pick a checkpoint series, run its diagnosis as
// a job, and show the weight histograms, gradient norms, weight norms, update
// ratios and unit fractions per checkpoint, with the problems they show.

import { ApiError, request } from "./api.js";
import { COLORS, horizontalBars } from "./charts.js";
import { coversFeatures, matchingDataset } from "./dataset-match.js";
import { byId, element, formatNumber, integerField, renderTable, showError } from "./dom.js";
import {
  checkpointLinesChart, epochGradient, flaggedLegend, histogramChart, spansOrdersOfMagnitude, THRESHOLD_LABEL_PADDING,
  thresholdLines, valueScale,
} from "./health-charts.js";
import { JobForm } from "./job-form.js";
import { isFlagged, problemOf, renderFindings, sentenceCase } from "./training-findings.js";

const ACTIVATION_COLORS = { dead: COLORS.lower, saturated: COLORS.marker };
// A checkpoint whose values span less than this fraction of the shared
// histogram range fills only a bin or two of its histogram. When at least
// half of the checkpoints do, the histogram gets a note and a logarithmic
// count axis by default.
const NARROW_SPAN_FRACTION = 0.1;

/** Return `text` with its first letter in lower case: "Dead ReLU units" reads "dead ReLU units". */
function lowerFirst(text) {
  return text.charAt(0).toLowerCase() + text.slice(1);
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

/**
 * Return the parameter tensors of the nearest layer before `layer` that has
 * any, in the module order of the result's activations: the ones that feed
 * an activation layer such as a ReLU.
 */
function feedingTensors({ weights, activations }, layer) {
  const order = Object.keys(activations);
  for (let index = order.indexOf(layer) - 1; index >= 0; index -= 1) {
    const tensors = Object.keys(weights).filter((name) => weights[name].layer === order[index]);
    if (tensors.length) return tensors;
  }
  return [];
}

/**
 * Return the tensor whose histogram is shown first: the tensor of the first
 * finding on a layer. A finding on a layer without parameters, such as a
 * ReLU, points to the layer that feeds it: its bias for dead units, because
 * a negative bias is their usual cause, and its weight otherwise. Without
 * such a finding, the first weight tensor.
 */
function defaultTensor(result) {
  const { weights, findings } = result;
  for (const finding of findings) {
    if (finding.layer === null) continue;
    if (finding.layer in weights) return finding.layer;
    const feeding = feedingTensors(result, finding.layer);
    const preferred = finding.problem === "dead-relu-units" ? "bias" : "weight";
    if (feeding.length) return feeding.find((name) => weights[name].kind === preferred) ?? feeding[0];
  }
  const tensors = Object.keys(weights);
  return tensors.find((name) => weights[name].kind === "weight") ?? tensors[0];
}

/** Return the positions of the checkpoints that the histogram draws, as "Checkpoints in the histogram" chooses. */
function histogramPositions(choice, chosen, count) {
  if (choice === "chosen") return [chosen];
  if (choice === "first-and-chosen") return chosen === 0 ? [0] : [0, chosen];
  return [...Array(count).keys()];
}

/**
 * Return a note when at least half of the checkpoints of a tensor span less
 * than a tenth of the range that all checkpoints share, so that their
 * histograms fill only a bin or two, or "" otherwise. The note names the
 * checkpoints that set the range.
 */
function narrowRangeNote(entry, epochs) {
  const edges = entry.histogram_edges;
  const range = edges[edges.length - 1] - edges[0];
  const spans = epochs.map((_, index) => (Number.isFinite(entry.min[index]) && Number.isFinite(entry.max[index])
    ? entry.max[index] - entry.min[index] : null));
  const narrow = epochs.filter((_, index) => spans[index] !== null && spans[index] < range * NARROW_SPAN_FRACTION);
  const wide = epochs.filter((_, index) => spans[index] !== null && spans[index] >= range / 2);
  if (narrow.length < epochs.length / 2 || !wide.length) return "";
  return `The shared bins span ${formatNumber(edges[0])} to ${formatNumber(edges[edges.length - 1])} because of ` +
    `epoch${wide.length > 1 ? "s" : ""} ${wide.join(", ")}. The values of epoch${narrow.length > 1 ? "s" : ""} ` +
    `${narrow.join(", ")} span less than a tenth of that range, so their histograms fill only a bin or two: ` +
    "a logarithmic count axis or fewer checkpoints shows them better, and Numbers lists each checkpoint's minimum, " +
    "maximum and standard deviation.";
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
    this.histogramCheckpoints = byId("histogram-checkpoints");
    this.histogramLog = byId("histogram-log");
    this.tensorSelect.addEventListener("change", () => {
      this.chooseCountAxis();
      this.drawHistogram();
    });
    this.histogramCheckpoints.addEventListener("change", () => this.drawHistogram());
    this.histogramLog.addEventListener("change", () => this.drawHistogram());
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
    const shownFirst = defaultTensor(result);
    this.tensorSelect.replaceChildren(...tensors.map((name) => element("option", {
      value: name,
      selected: name === shownFirst,
    }, `${name} (${shapeText(result.weights[name].shape)})`)));
    this.checkpointSlider.max = epochs.length - 1;
    this.checkpointSlider.value = epochs.length - 1;
    this.chooseCountAxis();

    byId("training-results").hidden = false;
    renderFindings(result);
    this.drawHistogram();
    this.drawCheckpointBars();
    this.drawLoss();
    this.drawWeightLines();
  }

  /** Make the count axis logarithmic by default where some checkpoints fill only a bin or two. */
  chooseCountAxis() {
    const entry = this.result.weights[this.tensorSelect.value];
    this.histogramLog.checked = Boolean(entry && narrowRangeNote(entry, this.result.epochs));
  }

  checkpointPosition() {
    return this.checkpointSlider.valueAsNumber;
  }

  drawHistogram() {
    const { epochs, weights, findings } = this.result;
    const name = this.tensorSelect.value;
    const entry = weights[name];
    const position = this.checkpointPosition();
    const shown = histogramPositions(this.histogramCheckpoints.value, position, epochs.length);
    const logarithmic = this.histogramLog.checked;
    const edges = entry.histogram_edges;
    const figure = byId("histogram-figure");
    const canvas = byId("histogram-chart");
    canvas.dataset.tensor = name;

    const shownText = shown.length === epochs.length
      ? `at each checkpoint; epoch ${epochs[position]} is drawn wider`
      : `at epoch${shown.length > 1 ? "s" : ""} ${shown.map((index) => epochs[index]).join(" and ")}`;
    const fed = findings.filter((finding) => finding.layer !== null && !(finding.layer in weights)
      && feedingTensors(this.result, finding.layer).includes(name));
    const feeds = fed.length
      ? `; ${entry.layer} feeds ${fed.map((finding) => `${finding.layer}, flagged for ${lowerFirst(problemOf(finding).title)}`).join(", ")}`
      : "";
    byId("histogram-caption").textContent =
      `Weight histogram of ${name} (${shapeText(entry.shape)}) ${shownText}, on ${edges.length - 1} bins ` +
      `shared by all checkpoints${logarithmic ? ", count on a log scale" : ""}${feeds}`;
    const note = narrowRangeNote(entry, epochs);
    const noteNode = byId("histogram-range-note");
    noteNode.textContent = note;
    noteNode.hidden = !note;
    histogramChart(canvas, {
      edges, counts: entry.histogram_counts, epochs, shown, highlighted: position, logarithmic, xTitle: `Value of ${name}`,
    });

    figure.querySelector("[data-first-epoch]").textContent = `epoch ${epochs[0]}`;
    figure.querySelector("[data-last-epoch]").textContent = `epoch ${epochs[epochs.length - 1]}`;
    figure.querySelector(".gradient.epochs").style.background = epochGradient();
    renderTable(figure.querySelector("[data-table]"),
      `${name}: ${edges.length - 1} bins from ${formatNumber(edges[0])} to ${formatNumber(edges[edges.length - 1])}, ` +
      `each ${formatNumber(edges[1] - edges[0])} wide`,
      ["Epoch", "Minimum", "Maximum", "Mean", "Standard deviation", "Near zero", "NaN or infinite", "Count per bin"],
      epochs.map((epoch, index) => [epoch, formatNumber(entry.min[index]), formatNumber(entry.max[index]),
        formatNumber(entry.mean[index]), formatNumber(entry.std[index]), formatNumber(entry.near_zero_fraction[index]),
        formatNumber(entry.nan_count[index] + entry.inf_count[index]), entry.histogram_counts[index].join(", ")]));
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
    const { gradients, findings } = this.result;
    const figure = byId("gradient-figure");
    const names = Object.keys(gradients);
    figure.hidden = !names.length;
    if (!names.length) return;

    const norms = names.map((name) => gradients[name].norm[position]);
    const flagged = names.map((name) => isFlagged(findings, "gradient", name, epoch));
    const scale = valueScale(norms);
    byId("gradient-caption").textContent =
      `Gradient norm of the loss per tensor at epoch ${epoch}; red: flagged at this checkpoint`;
    horizontalBars(byId("gradient-chart"), {
      labels: names,
      datasets: [{
        label: "Gradient norm",
        data: norms,
        backgroundColor: flagged.map((isRed) => (isRed ? COLORS.raise : COLORS.bar)),
      }],
      xTitle: scale.type === "logarithmic" ? "Gradient norm (log scale)" : "Gradient norm",
      xScale: scale,
      legend: flaggedLegend([{ text: "Gradient norm", color: COLORS.bar }], flagged.some(Boolean)),
    });
    renderTable(figure.querySelector("[data-table]"), `Gradient norm per tensor at epoch ${epoch}`,
      ["Tensor", "Gradient norm", "Flagged"],
      names.map((name, index) => [name, formatNumber(norms[index]), flagged[index] ? "yes" : "no"]));
  }

  drawActivations(position, epoch) {
    const { activations, thresholds, findings } = this.result;
    const figure = byId("activation-figure");
    const hasValues = (values) => values.some((value) => value !== null);
    const layers = Object.keys(activations).filter((name) =>
      hasValues(activations[name].dead_fraction) || hasValues(activations[name].saturated_fraction));
    figure.hidden = !layers.length;
    if (!layers.length) return;

    // One dataset per kind of fraction that any layer has. A bar is red where a finding flags its layer.
    const kinds = [
      {
        chart: "dead", field: "dead_fraction", label: "Dead units", layers: "dead ReLU units",
        color: ACTIVATION_COLORS.dead, threshold: thresholds.dead_unit_fraction,
      },
      {
        chart: "saturated", field: "saturated_fraction", label: "Saturated activations", layers: "saturated sigmoid or tanh activations",
        color: ACTIVATION_COLORS.saturated, threshold: thresholds.saturated_fraction,
      },
    ].filter((kind) => layers.some((name) => hasValues(activations[name][kind.field])));
    const flagged = Object.fromEntries(kinds.map((kind) =>
      [kind.chart, layers.map((name) => isFlagged(findings, kind.chart, name, epoch))]));
    const datasets = kinds.map((kind) => ({
      label: kind.label,
      data: layers.map((name) => activations[name][kind.field][position]),
      backgroundColor: flagged[kind.chart].map((isRed) => (isRed ? COLORS.raise : kind.color)),
    }));

    const percent = (value) => `${formatNumber(value * 100)} %`;
    const limits = kinds.filter((kind) => Number.isFinite(kind.threshold));
    const sameLimit = limits.length > 1 && limits.every((kind) => kind.threshold === limits[0].threshold);
    const lines = sameLimit
      ? [{ value: limits[0].threshold, label: `limit ${percent(limits[0].threshold)}` }]
      : limits.map((kind) => ({ value: kind.threshold, label: `${kind.chart} limit ${percent(kind.threshold)}` }));
    const kindsText = sentenceCase(kinds.map((kind) => kind.layers).join(" and "));
    const limitsText = limits.map((kind) => `${kind.label.toLowerCase()} above ${percent(kind.threshold)}`).join(", ");
    byId("activation-caption").textContent = `${kindsText} per layer at epoch ${epoch}; ` +
      `${limitsText ? `flagged: ${limitsText} (dashed line); ` : ""}red: flagged at this checkpoint`;
    horizontalBars(byId("activation-chart"), {
      labels: layers,
      datasets,
      xTitle: "Fraction",
      xScale: { min: 0, max: 1, ticks: { callback: (value) => percent(value) } },
      legend: flaggedLegend(kinds.map((kind) => ({ text: kind.label, color: kind.color })),
        Object.values(flagged).some((layerFlags) => layerFlags.some(Boolean))),
      layout: { padding: { top: THRESHOLD_LABEL_PADDING } },
      plugins: [thresholdLines("x", lines)],
    });
    const fraction = (value) => (value === null ? "—" : percent(value));
    renderTable(figure.querySelector("[data-table]"), `Unit fractions per layer at epoch ${epoch}`,
      ["Layer", "Kind", "Dead units", "Saturated activations", "Zero outputs", "Flagged"],
      layers.map((name, index) => {
        const entry = activations[name];
        const isRed = kinds.some((kind) => flagged[kind.chart][index]);
        return [name, entry.kind, fraction(entry.dead_fraction[position]), fraction(entry.saturated_fraction[position]),
          fraction(entry.zero_fraction[position]), isRed ? "yes" : "no"];
      }));
  }

  /** Draw the loss at each checkpoint, where the result has one, with the checkpoints that a loss finding flags in red. */
  drawLoss() {
    const { epochs, loss, findings, thresholds } = this.result;
    const figure = byId("loss-figure");
    figure.hidden = !Array.isArray(loss);
    if (!Array.isArray(loss)) return;

    const flagged = epochs.map((epoch) => isFlagged(findings, "loss", null, epoch));
    // Both limits are multiples of the first checkpoint's loss.
    const limits = [
      { factor: thresholds.rising_loss_factor, text: "rising loss: the last checkpoint's loss above" },
      { factor: thresholds.diverging_loss_factor, text: "diverging loss: any loss above" },
    ].filter((limit) => Number.isFinite(limit.factor) && loss[0] > 0);
    const lines = limits.map((limit) => ({ value: limit.factor * loss[0], label: `${formatNumber(limit.factor)} × first loss` }));
    const limitsText = limits.map((limit) => `${limit.text} ${formatNumber(limit.factor)} × the first`).join(", ");
    byId("loss-caption").textContent = `Loss on the dataset at each checkpoint${spansOrdersOfMagnitude(loss) ? " (log scale)" : ""}` +
      `${limitsText ? `; flagged: ${limitsText} (dashed lines)` : ""}; red: flagged checkpoints`;
    checkpointLinesChart(byId("loss-chart"), {
      epochs,
      series: [{ name: "Loss", values: loss, flagged }],
      yTitle: "Loss",
      // The axis reaches the rising-loss limit, so that its line is always drawn.
      yScale: lines.length ? { suggestedMax: lines[0].value } : {},
      plugins: [thresholdLines("y", lines)],
    });
    renderTable(figure.querySelector("[data-table]"), `Loss at epochs ${epochs.join(", ")}`,
      ["Epoch", "Loss", "Flagged"],
      epochs.map((epoch, index) => [epoch, formatNumber(loss[index]), flagged[index] ? "yes" : "no"]));
  }

  drawWeightLines() {
    const { epochs, weights, findings } = this.result;
    const names = Object.keys(weights).filter((name) => weights[name].kind === "weight");
    const norms = names.map((name) => ({
      name,
      values: weights[name].l2_norm,
      flagged: epochs.map((epoch) => isFlagged(findings, "weights", name, epoch)),
    }));
    checkpointLinesChart(byId("weight-norm-chart"), { epochs, series: norms, yTitle: "L2 norm" });
    renderTable(byId("weight-norm-figure").querySelector("[data-table]"),
      `L2 norm per weight tensor at epochs ${epochs.join(", ")}`, ["Tensor", "L2 norm per checkpoint", "Flagged at"],
      norms.map((line) => [line.name, joinNumbers(line.values),
        epochs.filter((_, index) => line.flagged[index]).join(", ") || "none"]));

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
