// Small DOM and number-formatting helpers shared by the views.

/** Create an element with properties (attributes for data-* and aria-*) and children. */
export function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "for") {
      node.setAttribute(key, value === true ? "" : String(value));
    } else {
      node[key] = value;
    }
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

/** Return the integer in the form's number input `name`, or null when it contains none. */
export function integerField(form, name) {
  const value = form.elements[name].valueAsNumber;
  return Number.isInteger(value) ? value : null;
}

/** Show `message` in an error paragraph, or hide the paragraph when message is empty. */
export function showError(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

// Probabilities this close to 0.5, the decision boundary of two classes, get
// more decimals, so that a class just past the boundary never reads "0.500".
const NEAR_BOUNDARY = 0.01;
const MAX_PROBABILITY_DECIMALS = 8;

/**
 * Format a probability with three decimals, the precision the page shows.
 * Within 0.01 of 0.5 it gets four decimals, and up to eight while the
 * rounded value still reads 0.5.
 */
export function formatProbability(value) {
  if (value === null || value === undefined) return "—";
  if (Math.abs(value - 0.5) >= NEAR_BOUNDARY) return value.toFixed(3);
  let decimals = 4;
  while (decimals < MAX_PROBABILITY_DECIMALS && Number(value.toFixed(decimals)) === 0.5 && value !== 0.5) {
    decimals += 1;
  }
  return value.toFixed(decimals);
}

/**
 * Format a number for reading: integers in full, others with four significant
 * digits, and magnitudes of a billion or more in exponent notation (1.230e+23).
 */
export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (Math.abs(value) >= 1e9) return value.toExponential(3);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return Number(value.toPrecision(4)).toString();
}

const COMPACT = new Intl.NumberFormat("en-US", { notation: "compact", maximumSignificantDigits: 3 });

/** Format a number in few characters for axis ticks: 150,000 as 150K, 0.0123 as 0.0123. */
export function formatCompact(value) {
  return COMPACT.format(value);
}

/** Format a feature value as the page shows it: missing values as "missing". */
export function formatValue(value) {
  if (value === null || value === undefined) return "missing";
  return typeof value === "number" ? formatNumber(value) : String(value);
}

/** Shorten `text` to `length` characters, ending with an ellipsis when cut. */
export function shorten(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** Format a signed change, such as "+0.021" or "−1,250". */
export function formatChange(value, format) {
  if (value === null || value === undefined) return "—";
  const text = format(Math.abs(value));
  if (value > 0) return `+${text}`;
  return value < 0 ? `\u2212${text}` : text;
}

/**
 * Render rows of cells as a table with a caption, replacing `container`'s
 * content. `hideCaption` keeps the caption for screen readers only, for
 * tables whose heading above shows the same text.
 */
export function renderTable(container, caption, headers, rows, { hideCaption = false } = {}) {
  const table = element("table", {},
    element("caption", { className: hideCaption ? "visually-hidden" : undefined }, caption),
    element("thead", {}, element("tr", {}, headers.map((header) => element("th", { scope: "col" }, header)))),
    element("tbody", {}, rows.map((cells) => element("tr", {}, cells.map((cell) => element("td", {}, breakable(cell)))))),
  );
  // A table wider than its card scrolls inside this box, not the page.
  container.replaceChildren(element("div", { className: "table-scroll" }, table));
}

/**
 * Let a text cell wrap after underscores, so that names such as
 * housing_median_age fit a narrow column. Other cells are returned as they are.
 */
function breakable(cell) {
  if (typeof cell !== "string" || !cell.includes("_")) return cell;
  return cell.split(/(?<=_)/).flatMap((part, index) => (index === 0 ? [part] : [document.createElement("wbr"), part]));
}

/** Call `callback` once calls have stopped for `delay` ms. */
export function debounce(callback, delay) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => callback(...args), delay);
  };
}
