// Chart.js charts: importance bars, contribution bars, the SHAP summary
// (beeswarm) and ICE curves. Chart.js is the vendored UMD build, loaded by
// index.html as the global `Chart`.

import { shorten } from "./dom.js";

const { Chart } = window;

export const COLORS = {
  raise: "#c0392b",
  lower: "#1f6fb2",
  bar: "#4a6fa5",
  whisker: "#1d2733",
  line: "#4a6fa5",
  marker: "#d35400",
  neutral: "#8a94a0",
};

// Screenshots and tests see the final state at once; the page also respects
// "reduce motion" this way.
Chart.defaults.animation = false;
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.color = "#1d2733";

/** Draws mean ± std whiskers on the bars of datasets that carry `errorBars`. */
const whiskerPlugin = {
  id: "whiskers",
  afterDatasetsDraw(chart) {
    const { ctx, scales } = chart;
    chart.data.datasets.forEach((dataset, datasetIndex) => {
      if (!dataset.errorBars) return;
      const meta = chart.getDatasetMeta(datasetIndex);
      ctx.save();
      ctx.strokeStyle = COLORS.whisker;
      ctx.lineWidth = 1.5;
      meta.data.forEach((bar, index) => {
        const mean = dataset.data[index];
        const error = dataset.errorBars[index];
        if (!error) return;
        const left = scales.x.getPixelForValue(mean - error);
        const right = scales.x.getPixelForValue(mean + error);
        const cap = Math.min(6, bar.height / 3);
        ctx.beginPath();
        ctx.moveTo(left, bar.y);
        ctx.lineTo(right, bar.y);
        ctx.moveTo(left, bar.y - cap);
        ctx.lineTo(left, bar.y + cap);
        ctx.moveTo(right, bar.y - cap);
        ctx.lineTo(right, bar.y + cap);
        ctx.stroke();
      });
      ctx.restore();
    });
  },
};

/** Replace the chart on `canvas` (if any) with a new one. */
export function drawChart(canvas, config) {
  Chart.getChart(canvas)?.destroy();
  return new Chart(canvas, config);
}

/** Size a horizontal bar chart's box to its number of bars. */
function fitHeight(canvas, nBars) {
  canvas.parentElement.style.height = `${Math.max(180, 26 * nBars + 70)}px`;
}

export function axisTitle(text) {
  return { display: Boolean(text), text };
}

// Category labels of horizontal bar charts, shortened on narrow screens
// (the tooltip shows them in full).
const categoryTicks = {
  autoSkip: false,
  callback(value) {
    return shorten(this.getLabelForValue(value), this.chart.width < 480 ? 20 : 48);
  },
};

/**
 * Draw horizontal bars, one group per label and one bar per dataset.
 *
 * `xScale` adds options to the value axis, such as a logarithmic type.
 * `legend` replaces the legend options. By default a legend is drawn when
 * there are several datasets. `layout` sets Chart.js layout options, such
 * as padding for labels that a plugin draws outside the chart area.
 */
export function horizontalBars(canvas, { labels, datasets, xTitle, xScale = {}, legend, layout, tooltip = {}, plugins = [] }) {
  fitHeight(canvas, labels.length * datasets.length);
  return drawChart(canvas, {
    type: "bar",
    data: { labels, datasets },
    options: {
      indexAxis: "y",
      layout,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: legend ?? { display: datasets.length > 1, position: "bottom" }, tooltip },
      scales: { x: { title: axisTitle(xTitle), ...xScale }, y: { ticks: categoryTicks } },
    },
    plugins,
  });
}

/**
 * Draw horizontal importance bars, largest first.
 *
 * `errors` (optional) draws ±error whiskers; `details` (optional) adds a
 * tooltip line per bar, such as the value of every repeat.
 */
export function importanceChart(canvas, { labels, values, errors, details, xTitle, label }) {
  return horizontalBars(canvas, {
    labels,
    datasets: [{ label, data: values, errorBars: errors, backgroundColor: COLORS.bar }],
    xTitle,
    tooltip: { callbacks: { afterLabel: (item) => (details ? details[item.dataIndex] : "") } },
    plugins: [whiskerPlugin],
  });
}

/** Draw horizontal bars of signed contributions: red raises the output, blue lowers it. */
export function contributionChart(canvas, { labels, values, xTitle }) {
  return horizontalBars(canvas, {
    labels,
    datasets: [{
      label: xTitle,
      data: values,
      backgroundColor: values.map((value) => (value >= 0 ? COLORS.raise : COLORS.lower)),
    }],
    xTitle,
  });
}

/** Blend from blue (0) to red (1) through purple, as SHAP summary plots colour feature values. */
export function lowHighColor(fraction) {
  const low = [31, 111, 178];
  const high = [192, 57, 43];
  const mix = low.map((channel, index) => Math.round(channel + (high[index] - channel) * fraction));
  return `rgb(${mix.join(", ")})`;
}

/**
 * Spread points that fall into the same x bin around their feature's row,
 * the way a beeswarm plot does. Returns a y offset per point, in rows.
 */
function swarmOffsets(xs, xRange) {
  const binWidth = xRange / 80 || 1;
  const filled = new Map();
  return xs.map((x) => {
    const bin = Math.round(x / binWidth);
    const count = filled.get(bin) || 0;
    filled.set(bin, count + 1);
    const step = Math.ceil(count / 2) * 0.07 * (count % 2 ? 1 : -1);
    // Past ±0.4 rows the swarm would reach the next feature's row: wrap back.
    return ((step + 0.4) % 0.8 + 0.8) % 0.8 - 0.4;
  });
}

/**
 * Draw the SHAP summary: one point per row and feature, at x = the SHAP
 * value. The colour is the feature's value from low (blue) to high (red),
 * or grey where the value is not a number or is missing.
 *
 * `features` is ordered from the most to the least important. Each has a
 * `name` and three arrays with one entry per row: `shap`, `values` (the
 * feature's value) and `colorFraction` (0..1, or null for grey).
 */
export function beeswarmChart(canvas, { features, xTitle }) {
  fitHeight(canvas, features.length);
  const allValues = features.flatMap((feature) => feature.shap);
  const xRange = Math.max(...allValues) - Math.min(...allValues);
  const points = [];
  features.forEach((feature, rank) => {
    const row = features.length - 1 - rank;
    const offsets = swarmOffsets(feature.shap, xRange);
    feature.shap.forEach((value, index) => {
      points.push({
        x: value,
        y: row + offsets[index],
        feature: feature.name,
        value: feature.values[index],
        color: feature.colorFraction[index] === null ? COLORS.neutral : lowHighColor(feature.colorFraction[index]),
      });
    });
  });

  return drawChart(canvas, {
    type: "scatter",
    data: {
      datasets: [{
        label: "SHAP value per row",
        data: points,
        pointRadius: 2.5,
        pointHoverRadius: 5,
        pointBackgroundColor: points.map((point) => point.color),
        pointBorderWidth: 0,
      }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            label: (item) => `${item.raw.feature} = ${item.raw.value ?? "missing"}: SHAP ${item.raw.x.toPrecision(3)}`,
          },
        },
      },
      scales: {
        x: { title: axisTitle(xTitle) },
        y: {
          min: -0.5,
          max: features.length - 0.5,
          afterBuildTicks: (axis) => {
            axis.ticks = features.map((_, index) => ({ value: index }));
          },
          ticks: {
            autoSkip: false,
            callback(value) {
              return shorten(features[features.length - 1 - value]?.name ?? "", this.chart.width < 480 ? 20 : 48);
            },
          },
          grid: { display: false },
        },
      },
    },
  });
}

/**
 * Draw an ICE curve: the prediction as one feature moves over `grid`, with
 * the current value marked. Categorical grids get a category axis and one
 * point per category, without a line, because categories have no order.
 */
export function iceChart(canvas, { grid, values, categorical, marker, xTitle, yTitle }) {
  const curve = categorical ? values : grid.map((x, index) => ({ x, y: values[index] }));
  const datasets = [{
    label: yTitle,
    data: curve,
    borderColor: COLORS.line,
    backgroundColor: COLORS.line,
    showLine: !categorical,
    pointRadius: categorical ? 6 : 2,
    pointHoverRadius: categorical ? 8 : 4,
    tension: 0,
  }];
  if (marker) {
    datasets.push({
      label: "Current value",
      data: [{ x: categorical ? String(marker.x) : marker.x, y: marker.y }],
      showLine: false,
      pointStyle: "rectRot",
      pointRadius: 8,
      pointHoverRadius: 9,
      borderColor: COLORS.marker,
      backgroundColor: COLORS.marker,
    });
  }

  return drawChart(canvas, {
    type: "line",
    data: { labels: categorical ? grid.map(String) : undefined, datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: true, position: "bottom" } },
      scales: {
        x: categorical
          ? { type: "category", title: axisTitle(xTitle) }
          : { type: "linear", min: Math.min(...grid), max: Math.max(...grid), title: axisTitle(xTitle) },
        y: { title: axisTitle(yTitle) },
      },
    },
  });
}
