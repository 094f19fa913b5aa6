// The choice of the dataset that belongs to a model or a checkpoint series.

function normalizedName(name) {
  return (name || "").toLowerCase().replace(/[^a-z0-9]/g, "");
}

function commonPrefixLength(a, b) {
  let length = 0;
  while (length < a.length && length < b.length && a[length] === b[length]) length += 1;
  return length;
}

/** Return whether `dataset` has a column for each of `record`'s features. */
export function coversFeatures(dataset, record) {
  return record.feature_names.every((feature) => dataset.columns.includes(feature));
}

/**
 * Find the dataset among `datasets` that most likely belongs to `record` (a
 * model or a checkpoint series): the one its metadata names. Otherwise,
 * among the datasets that contain every feature, pick the one whose name
 * shares the longest prefix with the record's name, falling back to every
 * dataset when none contains them all.
 */
export function matchingDataset(record, datasets) {
  const named = record.metadata?.dataset;
  const byName = datasets.find((dataset) => dataset.name === named || dataset.id === named);
  if (byName) return byName;

  const covering = datasets.filter((dataset) => coversFeatures(dataset, record));
  const candidates = covering.length ? covering : datasets;
  const recordName = normalizedName(record.name);
  let best = candidates[0] ?? null;
  for (const dataset of candidates) {
    if (commonPrefixLength(recordName, normalizedName(dataset.name)) > commonPrefixLength(recordName, normalizedName(best.name))) {
      best = dataset;
    }
  }
  return best;
}
