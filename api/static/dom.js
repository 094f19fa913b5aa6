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

/** Format a probability with three decimals, the precision the page shows. */
export function formatProbability(value) {
  return value === null || value === undefined ? "—" : value.toFixed(3);
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
    element("tbody", {}, rows.map((cells) => element("tr", {}, cells.map((cell) => element("td", {}, cell))))),
  );
  container.replaceChildren(table);
}

/** Call `callback` once calls have stopped for `delay` ms. */
export function debounce(callback, delay) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => callback(...args), delay);
  };
}
