// Chart.js charts of the training health view: weight histograms over
// checkpoints and per-tensor lines over checkpoints.

import { axisTitle, drawChart } from "./charts.js";
import { formatNumber, shorten } from "./dom.js";

const { Chart } = window;

// Viridis at 0, 0.25, 0.5 and 0.75: the first checkpoint is dark purple and
// the last green. The yellow end of viridis is left out because it is hard
// to see on white.
const EPOCH_RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98]];
// Tableau 10, one colour per tensor line. Past ten lines, the colours repeat with dashes.
const SERIES_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
  "#ff9da7", "#9c755f", "#bab0ac"];
// A value axis turns logarithmic when its positive values span this ratio or more.
const LOG_SCALE_RATIO = 100;

/** Return the colour of a checkpoint at `fraction` (0 first, 1 last) of the training. */
export function epochColor(fraction) {
  const position = Math.min(1, Math.max(0, fraction)) * (EPOCH_RAMP.length - 1);
  const index = Math.min(EPOCH_RAMP.length - 2, Math.floor(position));
  const within = position - index;
  const mix = EPOCH_RAMP[index].map((channel, offset) => Math.round(channel + (EPOCH_RAMP[index + 1][offset] - channel) * within));
  return `rgb(${mix.join(", ")})`;
}

/** Return the CSS gradient of the checkpoint colours, for a legend. */
export function epochGradient() {
  const stops = EPOCH_RAMP.map((_, index) => epochColor(index / (EPOCH_RAMP.length - 1)));
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

/** Return whether the positive finite `values` span a factor of LOG_SCALE_RATIO or more. */
export function spansOrdersOfMagnitude(values) {
  const positive = values.filter((value) => Number.isFinite(value) && value > 0);
  if (positive.length < 2) return false;
  return Math.max(...positive) / Math.min(...positive) >= LOG_SCALE_RATIO;
}

/** Label the powers of ten of a logarithmic axis as 1e-3, 1e0, 1e2..., and no other tick. */
function powerOfTenTick(value) {
  const exponent = Math.log10(value);
  return Math.abs(exponent - Math.round(exponent)) < 1e-9 ? `1e${Math.round(exponent)}` : "";
}

/** Return the scale options of a value axis: logarithmic where `values` span orders of magnitude. */
export function valueScale(values) {
  return spansOrdersOfMagnitude(values)
    ? { type: "logarithmic", ticks: { callback: powerOfTenTick, autoSkip: false } }
    : { beginAtZero: true };
}

/**
 * Draw one tensor's weight histogram at every checkpoint, as one stepped
 * line per checkpoint coloured from the first to the last epoch.
 *
 * `edges` are the n_bins + 1 bin edges that every checkpoint shares;
 * `counts` has one list of n_bins counts per checkpoint. The line of
 * checkpoint `highlighted` is drawn wider.
 */
export function histogramChart(canvas, { edges, counts, epochs, highlighted, xTitle }) {
  const centers = edges.slice(0, -1).map((edge, index) => (edge + edges[index + 1]) / 2);
  const last = Math.max(1, counts.length - 1);
  const datasets = counts.map((row, position) => ({
    label: `epoch ${epochs[position]}`,
    data: row.map((count, bin) => ({ x: centers[bin], y: count })),
    borderColor: epochColor(position / last),
    backgroundColor: epochColor(position / last),
    borderWidth: position === highlighted ? 3.5 : 1.5,
    pointRadius: 0,
    pointHoverRadius: 4,
    stepped: "middle",
  }));

  return drawChart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => {
              const bin = items[0].dataIndex;
              return `${formatNumber(edges[bin])} to ${formatNumber(edges[bin + 1])}`;
            },
            label: (item) => `${item.dataset.label}: ${item.raw.y} weights`,
          },
        },
      },
      scales: {
        x: { type: "linear", min: edges[0], max: edges[edges.length - 1], title: axisTitle(xTitle) },
        y: { beginAtZero: true, ticks: { precision: 0 }, title: axisTitle("Count") },
      },
    },
  });
}

/**
 * Draw one line per tensor over the checkpoints `epochs`. Each of `series`
 * has a `name` and one value per checkpoint. A null or non-finite value
 * leaves a gap, and so does a value at or below zero on a logarithmic axis.
 */
export function checkpointLinesChart(canvas, { epochs, series, yTitle }) {
  const scale = valueScale(series.flatMap((line) => line.values));
  const logarithmic = scale.type === "logarithmic";
  const datasets = series.map((line, index) => ({
    label: line.name,
    data: line.values.map((value) => (Number.isFinite(value) && (!logarithmic || value > 0) ? value : null)),
    borderColor: SERIES_COLORS[index % SERIES_COLORS.length],
    backgroundColor: SERIES_COLORS[index % SERIES_COLORS.length],
    borderDash: index >= SERIES_COLORS.length ? [6, 3] : undefined,
    pointRadius: 2,
    tension: 0,
  }));

  return drawChart(canvas, {
    type: "line",
    data: { labels: epochs, datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: {
        legend: {
          position: "bottom",
          labels: {
            boxWidth: 14,
            generateLabels: (chart) => Chart.defaults.plugins.legend.labels.generateLabels(chart)
              .map((label) => ({ ...label, text: shorten(label.text, chart.width < 480 ? 16 : 32) })),
          },
        },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatNumber(item.raw)}` } },
      },
      scales: {
        x: { title: axisTitle("Epoch") },
        y: { ...scale, title: axisTitle(logarithmic ? `${yTitle} (log scale)` : yTitle) },
      },
    },
  });
}
