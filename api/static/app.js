// Entry point: the model, dataset and row selection, uploads and tabs. Each
// view receives the selection and loads what it shows when its tab opens.

import { ApiError, request } from "./api.js";
import { matchingDataset } from "./dataset-match.js";
import { byId, debounce, element, formatNumber, showError } from "./dom.js";
import { GlobalView } from "./global-view.js";
import { RowView } from "./row-view.js";
import { Simulator } from "./simulator.js";
import { TrainingView } from "./training-view.js";

const ROW_INPUT_DELAY_MS = 400;

const views = {
  "panel-global": new GlobalView(),
  "panel-row": new RowView(),
  "panel-simulator": new Simulator(),
  "panel-training": new TrainingView(),
};

const selection = { model: null, dataset: null, schema: null, rowIndex: 0 };
let models = [];
let datasets = [];

function fillSelect(select, records, chosenId) {
  select.replaceChildren(...records.map((record) => element("option", {
    value: record.id,
    selected: record.id === chosenId,
  }, record.name || record.id)));
}

function describeModel(model) {
  const classes = model.class_names ? `, classes ${model.class_names.join(", ")}` : "";
  return `${model.task}${classes}; ${model.feature_names.length} features; format ${model.format}; methods ${model.methods.join(", ")}.`;
}

function describeDataset(dataset) {
  const target = dataset.target ? `, target ${dataset.target}` : ", no target column";
  return `${formatNumber(dataset.n_rows)} rows, ${dataset.columns.length} columns${target}.`;
}

function activeView() {
  const panel = document.querySelector('[role="tabpanel"]:not([hidden])');
  return views[panel.id];
}

/** Load the chosen dataset's schema and hand the selection to every view. */
async function applySelection() {
  const model = models.find((record) => record.id === byId("model-select").value) ?? null;
  const dataset = datasets.find((record) => record.id === byId("dataset-select").value) ?? null;
  byId("model-summary").textContent = model ? describeModel(model) : "No model is registered: upload one.";
  byId("dataset-summary").textContent = dataset ? describeDataset(dataset) : "No dataset is registered: upload one.";
  showError(byId("setup-error"), "");
  if (!model || !dataset) return;

  const rowInput = byId("row-index");
  rowInput.max = dataset.n_rows - 1;
  const rowIndex = Number(rowInput.value);
  if (!Number.isInteger(rowIndex) || rowIndex < 0 || rowIndex >= dataset.n_rows) {
    const message = `Row index must be an integer from 0 to ${dataset.n_rows - 1}, got ${rowInput.value || "nothing"}.`;
    showError(byId("setup-error"), message);
    for (const view of Object.values(views)) view.invalidate?.(message);
    return;
  }

  try {
    const schema = selection.dataset?.id === dataset.id && selection.schema
      ? selection.schema
      : await request(`/datasets/${encodeURIComponent(dataset.id)}/schema`);
    Object.assign(selection, { model, dataset, schema, rowIndex });
  } catch (error) {
    showError(byId("setup-error"), `Loading the dataset's schema failed: ${error.message}`);
    return;
  }
  for (const view of Object.values(views)) view.setSelection({ ...selection });
  activeView().show();
}

async function loadLists({ modelId, datasetId } = {}) {
  try {
    [{ models }, { datasets }] = await Promise.all([request("/models"), request("/datasets")]);
  } catch (error) {
    showError(byId("setup-error"), `Loading the models and datasets failed: ${error.message}`);
    return;
  }
  const model = models.find((record) => record.id === modelId) ?? models.find((record) => record.id === byId("model-select").value) ?? models[0];
  fillSelect(byId("model-select"), models, model?.id);
  const dataset = datasets.find((record) => record.id === datasetId) ?? (model ? matchingDataset(model, datasets) : datasets[0]);
  fillSelect(byId("dataset-select"), datasets, dataset?.id);
  await applySelection();
}

function setUpSelection() {
  byId("model-select").addEventListener("change", () => {
    const model = models.find((record) => record.id === byId("model-select").value);
    const dataset = model && matchingDataset(model, datasets);
    if (dataset) byId("dataset-select").value = dataset.id;
    applySelection();
  });
  byId("dataset-select").addEventListener("change", applySelection);
  byId("row-index").addEventListener("input", debounce(applySelection, ROW_INPUT_DELAY_MS));
}

function setUpUploads() {
  const status = byId("upload-status");
  const errorNode = byId("upload-error");
  const upload = async (form, path, describe, select) => {
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    showError(errorNode, "");
    status.textContent = "Uploading…";
    try {
      const record = await request(path, { method: "POST", form: new FormData(form) });
      status.textContent = describe(record);
      form.reset();
      await loadLists(select(record));
    } catch (error) {
      status.textContent = "";
      showError(errorNode, `Upload failed: ${error instanceof ApiError ? error.message : error}`);
    } finally {
      button.disabled = false;
    }
  };

  byId("model-upload").addEventListener("submit", (event) => {
    event.preventDefault();
    upload(event.target, "/models",
      (model) => `Model ${model.name || model.id} uploaded: ${describeModel(model)}`,
      (model) => ({ modelId: model.id }));
  });
  byId("dataset-upload").addEventListener("submit", (event) => {
    event.preventDefault();
    upload(event.target, "/datasets",
      (dataset) => `Dataset ${dataset.name || dataset.id} uploaded: ${describeDataset(dataset)}`,
      (dataset) => ({ datasetId: dataset.id }));
  });
}

/** Tabs as in the WAI-ARIA tabs pattern: arrow keys, Home and End move between them. */
function setUpTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      byId(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    views[tab.getAttribute("aria-controls")].show();
  };

  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
    });
  });
}

setUpTabs();
setUpSelection();
setUpUploads();
loadLists();
