"""scikit-learn estimators (and pipelines) from skops or, on opt-in, pickle."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor

from .._errors import UnsupportedFormatError, UnusableInputError
from ._base import CLASSIFICATION, REGRESSION, Model

# Top-level packages whose types a skops file may contain without the operator
# listing them: the libraries that fitted estimators are built from.
DEFAULT_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy", "xgboost", "lightgbm", "catboost")


class SklearnModel(Model):
    """A fitted scikit-learn estimator or pipeline taking a DataFrame."""

    def __init__(self, estimator, *, format: str, digest: str, metadata: dict | None = None):
        metadata = dict(metadata or {})
        if not hasattr(estimator, "predict"):
            raise UnusableInputError(
                f"the file contains a {type(estimator).__name__}, which has no predict "
                "method; upload a fitted estimator or pipeline."
            )
        if is_classifier(estimator):
            task = CLASSIFICATION
            if not hasattr(estimator, "predict_proba"):
                raise UnusableInputError(
                    f"the classifier {type(estimator).__name__} has no predict_proba; "
                    "explanations need class probabilities, so wrap it in "
                    "sklearn.calibration.CalibratedClassifierCV or use a classifier "
                    "with predict_proba."
                )
            class_names = [str(label) for label in estimator.classes_]
        elif is_regressor(estimator):
            task = REGRESSION
            class_names = None
        else:
            task = metadata.get("task")
            if task not in (CLASSIFICATION, REGRESSION):
                raise UnusableInputError(
                    f"cannot tell whether {type(estimator).__name__} is a classifier or "
                    "a regressor; supply task='classification' or 'regression' in the "
                    "model metadata."
                )
            class_names = (
                [str(label) for label in estimator.classes_] if task == CLASSIFICATION else None
            )

        fitted_names = getattr(estimator, "feature_names_in_", None)
        given_names = metadata.get("feature_names")
        if fitted_names is not None:
            feature_names = [str(name) for name in fitted_names]
            if given_names is not None and list(given_names) != feature_names:
                raise UnusableInputError(
                    f"metadata feature_names {list(given_names)} differ from the names "
                    f"the estimator was fitted with, {feature_names}; drop them from "
                    "the metadata or correct them.",
                )
            self._takes_frame = True
        elif given_names is not None:
            feature_names = [str(name) for name in given_names]
            expected = getattr(estimator, "n_features_in_", None)
            if expected is not None and expected != len(feature_names):
                raise UnusableInputError(
                    f"metadata lists {len(feature_names)} feature names but the estimator "
                    f"takes {expected} inputs; give exactly {expected} names."
                )
            self._takes_frame = False
        else:
            raise UnusableInputError(
                f"the {type(estimator).__name__} was fitted without column names; supply "
                "feature_names in the model metadata, in the order of its inputs."
            )

        given_classes = metadata.get("class_names")
        if task == CLASSIFICATION and given_classes is not None:
            if len(given_classes) != len(class_names):
                raise UnusableInputError(
                    f"metadata lists {len(given_classes)} class names but the classifier "
                    f"has {len(class_names)} classes {class_names}."
                )
            class_names = [str(name) for name in given_classes]

        super().__init__(
            task=task,
            feature_names=feature_names,
            class_names=class_names,
            format=format,
            digest=digest,
            metadata=metadata,
        )
        self.estimator = estimator
        if task == CLASSIFICATION and hasattr(estimator, "decision_function"):
            # Log-odds explanations use the estimator's own margin, as for
            # boosters, so that "log_odds" means the same for every family.
            self.predict_margin = self._predict_margin

    def _predict_margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw margin as (n_rows, n_classes); a binary margin m becomes [-m, m]."""
        features = self.select_features(frame)
        inputs = features if self._takes_frame else features.to_numpy()
        margin = np.asarray(self.estimator.decision_function(inputs), dtype=np.float64)
        return np.stack([-margin, margin], axis=1) if margin.ndim == 1 else margin

    def _predict_array(self, features: pd.DataFrame) -> np.ndarray:
        inputs = features if self._takes_frame else features.to_numpy()
        if self.is_classifier:
            return np.asarray(self.estimator.predict_proba(inputs), dtype=np.float64)
        return np.asarray(self.estimator.predict(inputs), dtype=np.float64).reshape(-1)


def _is_trusted(type_name: str, extra_trusted: tuple[str, ...]) -> bool:
    if type_name.split(".", 1)[0] in DEFAULT_TRUSTED_PACKAGES:
        return True
    for pattern in extra_trusted:
        if pattern.endswith("*"):
            if type_name.startswith(pattern[:-1]):
                return True
        elif type_name == pattern:
            return True
    return False


def load_skops(data: bytes, *, digest: str, metadata: dict | None, trusted_types=()) -> SklearnModel:
    """Load a skops file, trusting only known packages and ``trusted_types``.

    ``trusted_types`` entries are fully qualified type names, or prefixes ending
    in ``*`` (``"mypackage.*"``).
    """
    import skops.io

    extra = tuple(trusted_types)
    try:
        found = skops.io.get_untrusted_types(data=data)
    except Exception as error:  # skops raises several types on corrupt archives
        raise UnsupportedFormatError(
            f"the file looks like a skops archive but cannot be read ({error}); "
            "save it again with skops.io.dump."
        ) from error
    rejected = sorted(name for name in found if not _is_trusted(name, extra))
    if rejected:
        raise UnusableInputError(
            f"the skops file contains {len(rejected)} untrusted type(s): {rejected}. "
            "Loading them could run their code. Ask the operator to trust them "
            "(setting EXPLAINER_SKOPS_TRUSTED_TYPES), or rebuild the model from "
            f"packages trusted by default: {list(DEFAULT_TRUSTED_PACKAGES)}.",
            details={"untrusted_types": rejected},
        )
    try:
        estimator = skops.io.loads(data, trusted=list(found))
    except Exception as error:
        raise UnusableInputError(
            f"the skops file could not be loaded: {error}. Check that it was saved "
            "with compatible versions of scikit-learn and skops."
        ) from error
    return SklearnModel(estimator, format="skops", digest=digest, metadata=metadata)


def load_pickled_estimator(data: bytes, *, digest: str, metadata: dict | None, format: str):
    """Unpickle an estimator. Runs arbitrary code: only call on operator opt-in."""
    import joblib

    try:
        loaded = joblib.load(io.BytesIO(data))
    except Exception as error:
        raise UnusableInputError(f"the {format} file could not be loaded: {error}.") from error
    try:
        import torch

        if isinstance(loaded, torch.nn.Module):
            from ._torch import TorchModel

            return TorchModel(loaded, format=format, digest=digest, metadata=metadata)
    except ImportError:
        pass
    return SklearnModel(loaded, format=format, digest=digest, metadata=metadata)
