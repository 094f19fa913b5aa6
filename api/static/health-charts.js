// Chart.js charts of the training health view: weight histograms over
// checkpoints, per-tensor lines over checkpoints, threshold lines and the
// legend entry of flagged items.

import { axisTitle, COLORS, drawChart } from "./charts.js";
import { formatCompact, formatNumber, shorten } from "./dom.js";

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
// On a logarithmic count axis, empty bins are drawn at this height, the axis
// minimum, which is labelled 0.
const EMPTY_BIN_HEIGHT = 0.5;
// Charts narrower than this many pixels get fewer ticks on a linear x axis
// and shorter legend labels.
const NARROW_CHART = 480;
// The legend entry of bars drawn red because a finding flags them.
export const FLAGGED_LABEL = "Flagged at this checkpoint";

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

/** Return the most ticks a linear x axis of a chart `width` pixels wide shows without overlapping labels. */
function xTickLimit(width) {
  return width < NARROW_CHART ? 5 : 10;
}

/**
 * Draw one tensor's weight histogram, as one stepped line per checkpoint
 * coloured from the first to the last epoch.
 *
 * `edges` are the n_bins + 1 bin edges that every checkpoint shares;
 * `counts` has one list of n_bins counts per checkpoint. Only the
 * checkpoints at the positions `shown` are drawn, and the line of checkpoint
 * `highlighted` is drawn wider. Each point has `x` (the bin centre), `y`
 * (its height) and `count`. With `logarithmic`, the count axis is
 * logarithmic and empty bins are drawn at its minimum, labelled 0.
 */
export function histogramChart(canvas, { edges, counts, epochs, shown, highlighted, logarithmic, xTitle }) {
  const centers = edges.slice(0, -1).map((edge, index) => (edge + edges[index + 1]) / 2);
  const last = Math.max(1, counts.length - 1);
  const height = (count) => (logarithmic && count === 0 ? EMPTY_BIN_HEIGHT : count);
  const datasets = shown.map((position) => ({
    label: `epoch ${epochs[position]}`,
    data: counts[position].map((count, bin) => ({ x: centers[bin], y: height(count), count })),
    borderColor: epochColor(position / last),
    backgroundColor: epochColor(position / last),
    borderWidth: position === highlighted ? 3.5 : 1.5,
    pointRadius: 0,
    pointHoverRadius: 4,
    stepped: "middle",
  }));
  const countAxis = logarithmic
    ? {
      type: "logarithmic",
      min: EMPTY_BIN_HEIGHT,
      ticks: { autoSkip: false, callback: (value) => (value === EMPTY_BIN_HEIGHT ? "0" : powerOfTenTick(value)) },
      title: axisTitle("Count (log scale)"),
    }
    : { beginAtZero: true, ticks: { precision: 0, callback: formatCompact }, title: axisTitle("Count") };

  return drawChart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      // Long values such as 150,000 overlap on a phone unless the axis shows fewer ticks.
      onResize: (chart, size) => {
        chart.options.scales.x.ticks.maxTicksLimit = xTickLimit(size.width);
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => {
              const bin = items[0].dataIndex;
              return `${formatNumber(edges[bin])} to ${formatNumber(edges[bin + 1])}`;
            },
            label: (item) => `${item.dataset.label}: ${item.raw.count} weights`,
          },
        },
      },
      scales: {
        x: {
          type: "linear",
          min: edges[0],
          max: edges[edges.length - 1],
          // Ticks at the bounds (the data's minimum and maximum) would crowd out the round values.
          ticks: { maxTicksLimit: xTickLimit(canvas.parentElement.clientWidth), includeBounds: false, callback: formatCompact },
          title: axisTitle(xTitle),
        },
        y: countAxis,
      },
    },
  });
}

// Room above the chart area for the labels of vertical threshold lines, in pixels.
export const THRESHOLD_LABEL_PADDING = 18;

/**
 * Return a Chart.js plugin that draws each of `lines` ({ value, label }) as
 * a dashed line across the value axis `axisId`, with its label. A line outside
 * the axis range is left out, so the caption has to state the threshold too.
 * The label of a vertical line is drawn above the chart area, so the chart
 * needs THRESHOLD_LABEL_PADDING of layout padding at the top.
 */
export function thresholdLines(axisId, lines) {
  return {
    id: "thresholdLines",
    afterDatasetsDraw(chart) {
      const { ctx, chartArea } = chart;
      const scale = chart.scales[axisId];
      ctx.save();
      ctx.strokeStyle = COLORS.whisker;
      ctx.fillStyle = COLORS.whisker;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([6, 4]);
      ctx.font = `12px ${Chart.defaults.font.family}`;
      for (const line of lines) {
        if (!(line.value >= scale.min && line.value <= scale.max)) continue;
        const pixel = scale.getPixelForValue(line.value);
        ctx.beginPath();
        if (scale.isHorizontal()) {
          ctx.moveTo(pixel, chartArea.top);
          ctx.lineTo(pixel, chartArea.bottom);
        } else {
          ctx.moveTo(chartArea.left, pixel);
          ctx.lineTo(chartArea.right, pixel);
        }
        ctx.stroke();
        if (scale.isHorizontal()) {
          ctx.textAlign = "center";
          ctx.textBaseline = "bottom";
          ctx.fillText(line.label, pixel, chartArea.top - 3);
        } else {
          ctx.textAlign = "right";
          ctx.textBaseline = "bottom";
          ctx.fillText(line.label, chartArea.right - 4, pixel - 2);
        }
      }
      ctx.restore();
    },
  };
}

/**
 * Return legend options that list `items` ({ text, color }) and, when
 * `anyFlagged`, a red entry for flagged items. Clicking an entry of a
 * dataset hides or shows it, as Chart.js does by default.
 */
export function flaggedLegend(items, anyFlagged) {
  return {
    display: true,
    position: "bottom",
    onClick: toggleDataset,
    labels: {
      boxWidth: 14,
      generateLabels: (chart) => [
        ...items.map((item, index) => ({
          text: item.text,
          fillStyle: item.color,
          strokeStyle: item.color,
          lineWidth: 0,
          hidden: !chart.isDatasetVisible(index),
          datasetIndex: index,
        })),
        ...(anyFlagged ? [flaggedLegendItem(FLAGGED_LABEL)] : []),
      ],
    },
  };
}

function flaggedLegendItem(text) {
  return { text, fillStyle: COLORS.raise, strokeStyle: COLORS.raise, lineWidth: 0 };
}

/** Hide or show the dataset of a legend entry, as Chart.js does; the flagged entry has no dataset. */
function toggleDataset(event, legendItem, legend) {
  if (legendItem.datasetIndex === undefined) return;
  Chart.defaults.plugins.legend.onClick.call(legend, event, legendItem, legend);
}

/**
 * Draw one line per tensor over the checkpoints `epochs`. Each of `series`
 * has a `name`, one value per checkpoint, and optionally `flagged`, one
 * boolean per checkpoint: flagged points are drawn larger and red. A null or
 * non-finite value leaves a gap, and so does a value at or below zero on a
 * logarithmic axis. `yScale` adds options to the value axis, such as a
 * suggested maximum, and `plugins` are passed to Chart.js, such as threshold
 * lines.
 */
export function checkpointLinesChart(canvas, { epochs, series, yTitle, yScale = {}, plugins = [] }) {
  const scale = valueScale(series.flatMap((line) => line.values));
  const logarithmic = scale.type === "logarithmic";
  const datasets = series.map((line, index) => {
    const color = SERIES_COLORS[index % SERIES_COLORS.length];
    const flagged = line.flagged ?? [];
    return {
      label: line.name,
      data: line.values.map((value) => (Number.isFinite(value) && (!logarithmic || value > 0) ? value : null)),
      borderColor: color,
      backgroundColor: color,
      borderDash: index >= SERIES_COLORS.length ? [6, 3] : undefined,
      pointRadius: line.values.map((_, position) => (flagged[position] ? 5 : 2)),
      pointBackgroundColor: line.values.map((_, position) => (flagged[position] ? COLORS.raise : color)),
      pointBorderColor: line.values.map((_, position) => (flagged[position] ? COLORS.raise : color)),
      tension: 0,
    };
  });
  const anyFlagged = series.some((line) => (line.flagged ?? []).some(Boolean));

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
          onClick: toggleDataset,
          labels: {
            boxWidth: 14,
            generateLabels: (chart) => [
              ...Chart.defaults.plugins.legend.labels.generateLabels(chart)
                .map((label) => ({ ...label, text: shorten(label.text, chart.width < NARROW_CHART ? 16 : 32) })),
              ...(anyFlagged ? [flaggedLegendItem("Flagged checkpoint")] : []),
            ],
          },
        },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatNumber(item.raw)}` } },
      },
      scales: {
        x: { title: axisTitle("Epoch") },
        y: { ...scale, ...yScale, title: axisTitle(logarithmic ? `${yTitle} (log scale)` : yTitle) },
      },
    },
    plugins,
  });
}
