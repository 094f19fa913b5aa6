// One simulator control per feature, built from the dataset schema: a slider
// with a number box for numbers, a select for categories, a switch for
// booleans, and a "missing" checkbox for every feature.

import { element, formatNumber, formatValue } from "./dom.js";

/** Choose a slider step that gives about 100 to 1000 positions over a float range. */
function floatStep(minimum, maximum) {
  const span = maximum - minimum;
  return span > 0 ? 10 ** Math.floor(Math.log10(span / 100)) : 1;
}

/** Compare two feature values: numbers by value, and missing values equal to each other. */
export function sameValue(a, b) {
  if (a === null || a === undefined || b === null || b === undefined) {
    return (a ?? null) === (b ?? null);
  }
  return typeof a === "number" || typeof b === "number" ? Number(a) === Number(b) : String(a) === String(b);
}

export class FeatureControl {
  /**
   * Build the control of one feature. `column` is the feature's schema entry,
   * or a stand-in for a feature the schema lacks. `onInput(control)` runs
   * after every change the user makes, and `onFocus(control)` when focus
   * enters the control.
   */
  constructor(column, index, original, { onInput, onFocus }) {
    this.name = column.name;
    this.column = column;
    this.original = original ?? null;
    this.onInput = onInput;
    this.id = `feature-${index}`;
    this.kind = column.kind;
    if (this.kind === "numeric" && !(column.max >= column.min)) this.kind = "number-only";

    this.missing = element("input", { type: "checkbox", id: `${this.id}-missing` });
    this.originalNote = element("span", { className: "original", hidden: true });
    this.element = element("div", { className: "control", "data-feature": this.name, "data-kind": this.kind },
      element("div", { className: "control-head" },
        element("label", { for: this.id, className: "feature-name" }, this.name),
        this.originalNote),
      element("div", { className: "control-body" },
        this.buildInputs(),
        element("span", { className: "missing-toggle" },
          this.missing,
          element("label", { for: this.missing.id }, "missing", element("span", { className: "visually-hidden" }, ` (${this.name})`)))));

    this.missing.addEventListener("change", () => {
      this.setDisabled(this.missing.checked);
      this.changed();
    });
    this.element.addEventListener("focusin", () => onFocus(this));
    this.value = this.original;
  }

  buildInputs() {
    const column = this.column;
    if (this.kind === "numeric" || this.kind === "number-only") {
      const step = column.is_integer ? 1 : floatStep(column.min, column.max);
      this.number = element("input", {
        type: "number",
        id: this.kind === "number-only" ? this.id : `${this.id}-number`,
        step: column.is_integer ? 1 : "any",
        inputMode: column.is_integer ? "numeric" : "decimal",
        "aria-label": this.kind === "number-only" ? undefined : `${this.name}, exact value`,
      });
      this.number.addEventListener("input", () => {
        const valid = this.number.value !== "" && Number.isFinite(this.number.valueAsNumber);
        this.number.setAttribute("aria-invalid", String(!valid));
        if (!valid) return;
        if (this.slider) this.slider.value = this.number.value;
        this.changed();
      });
      if (this.kind === "number-only") return [this.number];

      this.slider = element("input", { type: "range", id: this.id, min: column.min, max: column.max, step });
      this.slider.addEventListener("input", () => {
        this.number.value = this.slider.value;
        this.number.setAttribute("aria-invalid", "false");
        this.changed();
      });
      const range = element("span", { className: "range-limits", "aria-hidden": "true" },
        element("span", {}, formatNumber(column.min)), element("span", {}, formatNumber(column.max)));
      return [element("div", { className: "slider" }, this.slider, range), this.number];
    }

    if (this.kind === "boolean") {
      this.switch = element("input", { type: "checkbox", role: "switch", id: this.id });
      this.switch.addEventListener("change", () => this.changed());
      return [this.switch];
    }

    this.select = element("select", { id: this.id },
      (column.categories ?? []).map(({ value, count }) => element("option", { value }, `${value} (${formatNumber(count)})`)));
    this.select.addEventListener("change", () => this.changed());
    return [this.select];
  }

  setDisabled(disabled) {
    for (const input of [this.slider, this.number, this.select, this.switch]) {
      if (input) input.disabled = disabled;
    }
  }

  /** The value shown: a number, a category, a boolean, or null when marked missing. */
  get value() {
    if (this.missing.checked) return null;
    if (this.switch) return this.switch.checked;
    if (this.select) return this.select.value;
    return this.number.valueAsNumber;
  }

  /** Show `value` without counting it as the user's change. */
  set value(value) {
    const missing = value === null || value === undefined;
    this.missing.checked = missing;
    this.setDisabled(missing);
    if (this.switch) {
      this.switch.checked = missing ? false : value === true || value === "true";
    } else if (this.select) {
      const category = missing ? this.select.options[0]?.value : String(value);
      if (category !== undefined && ![...this.select.options].some((option) => option.value === category)) {
        // A category the schema did not list (rare, or past its reported maximum).
        this.select.append(element("option", { value: category }, category));
      }
      if (category !== undefined) this.select.value = category;
    } else {
      // A missing value leaves the slider at the median, ready for the user to untick "missing".
      const number = missing ? this.column.quantiles?.["0.5"] ?? this.column.min ?? 0 : Number(value);
      this.number.value = String(number);
      this.number.setAttribute("aria-invalid", "false");
      if (this.slider) this.slider.value = String(number);
    }
    this.markChanged();
  }

  get isChanged() {
    return !sameValue(this.value, this.original);
  }

  markChanged() {
    const changed = this.isChanged;
    this.element.classList.toggle("changed", changed);
    this.originalNote.hidden = !changed;
    this.originalNote.textContent = changed ? `was ${formatValue(this.original)}` : "";
  }

  changed() {
    this.markChanged();
    this.onInput(this);
  }
}
