"""The model registry's `activate_if_better`: a new version replaces the active one only on a higher
validation ROC AUC."""

import pytest

from classifier.inference.testing import make_tiny_artifact
from classifier.models import ModelVersion
from classifier.services import model_version_register

pytestmark = pytest.mark.django_db


def _register(tmp_path, *, seed: int, val_auc: float | None, **kwargs) -> ModelVersion:
    path = tmp_path / f"{seed}.naevus.pt"
    sha256, meta = make_tiny_artifact(path, seed=seed)
    meta["metrics"] = {} if val_auc is None else {"val": {"roc_auc": val_auc}}
    return model_version_register(artifact_path=str(path), sha256=sha256, meta=meta, **kwargs)


def test_activate_if_better_activates_a_higher_validation_auc_and_keeps_the_active_one_otherwise(tmp_path):
    first = _register(tmp_path, seed=1, val_auc=0.80, activate=True)
    worse = _register(tmp_path, seed=2, val_auc=0.79, activate_if_better=True)
    equal = _register(tmp_path, seed=3, val_auc=0.80, activate_if_better=True)
    unknown = _register(tmp_path, seed=4, val_auc=None, activate_if_better=True)
    assert list(ModelVersion.objects.filter(is_active=True)) == [first]
    better = _register(tmp_path, seed=5, val_auc=0.81, activate_if_better=True)
    assert list(ModelVersion.objects.filter(is_active=True)) == [better]
    assert not any(v.is_active for v in ModelVersion.objects.filter(pk__in=[worse.pk, equal.pk, unknown.pk]))


def test_without_activate_if_better_a_better_version_stays_inactive(tmp_path):
    first = _register(tmp_path, seed=1, val_auc=0.80, activate=True)
    _register(tmp_path, seed=2, val_auc=0.95)
    assert list(ModelVersion.objects.filter(is_active=True)) == [first]
