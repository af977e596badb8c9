"""scikit-learn conformance: ``check_estimator`` on every estimator, the exceptions and warnings
scikit-learn callers catch, and MitraModel(task=None) inside cross-validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wlearn.errors
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor

sklearn = pytest.importorskip("sklearn", minversion="1.6")  # expected_failed_checks
from sklearn.exceptions import DataConversionWarning  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CLF_ONNX = str(FIXTURES / "onnx" / "tiny-mitra-classifier.onnx")
REG_ONNX = str(FIXTURES / "onnx" / "tiny-mitra-regressor.onnx")

# The fixture models are untrained tiny stand-ins (random weights, kept for bit-exact tests):
# they answer no better than chance, so scikit-learn's accuracy thresholds (accuracy > 0.83,
# R^2 > 0.5 on easy data) cannot hold for them. The built-in models, the default, are trained
# and pass every check, the accuracy ones included.
STAND_IN = "the untrained tiny stand-in model cannot reach scikit-learn's accuracy threshold"
ACCURACY = {
    "classifier": {"check_classifiers_train": STAND_IN},
    "regressor": {"check_regressors_train": STAND_IN},
}

ESTIMATORS = {
    "MitraClassifier": (lambda: MitraClassifier(onnx=CLF_ONNX), ACCURACY["classifier"]),
    "MitraRegressor": (lambda: MitraRegressor(onnx=REG_ONNX), ACCURACY["regressor"]),
    "MitraModel-classification": (
        lambda: MitraModel(task="classification", classifier_onnx=CLF_ONNX),
        ACCURACY["classifier"],
    ),
    "MitraModel-regression": (
        lambda: MitraModel(task="regression", regressor_onnx=REG_ONNX),
        ACCURACY["regressor"],
    ),
    "MitraClassifier-builtin": (lambda: MitraClassifier(), {}),
    "MitraRegressor-builtin": (lambda: MitraRegressor(), {}),
    "MitraModel-detect": (
        lambda: MitraModel(classifier_onnx=CLF_ONNX, regressor_onnx=REG_ONNX),
        {
            **ACCURACY["classifier"],
            # By design: with task=None a continuous target is detected as regression (as
            # @wlearn/mitra's detectTask), where a classifier must refuse it.
            "check_classifiers_regression_target": "task=None detects regression targets",
        },
    ),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_check_estimator_passes_every_api_check(name):
    make, expected = ESTIMATORS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(make(), expected_failed_checks=expected, on_fail=None)
    failed = {r["check_name"]: repr(r["exception"])[:300] for r in results
              if r["status"] == "failed"}
    assert failed == {}
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert xfailed <= set(expected)
    assert len(results) >= 50


@pytest.mark.parametrize("name", ["MitraClassifier", "MitraModel-classification"])
def test_classifier_train_check_passes_apart_from_its_accuracy_threshold(name, monkeypatch):
    """The API half of check_classifiers_train (shapes, errors on malformed input, after the
    accuracy assertion) runs with the threshold neutralised, while the stand-in model is the
    default."""
    monkeypatch.setattr(estimator_checks, "accuracy_score", lambda *a, **k: 1.0)
    estimator_checks.check_classifiers_train(name, ESTIMATORS[name][0]())


# -- what scikit-learn callers catch ------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: MitraClassifier(onnx=CLF_ONNX),
                                  lambda: MitraRegressor(onnx=REG_ONNX),
                                  lambda: MitraModel(classifier_onnx=CLF_ONNX)])
def test_unfitted_models_raise_scikit_learns_not_fitted_error(make):
    from sklearn.utils.validation import check_is_fitted

    model = make()
    for call in (lambda: model.predict(np.zeros((2, 3))), lambda: model.classes_,
                 lambda: model.save()):
        with pytest.raises(SklearnNotFittedError) as info:
            call()
        error = info.value
        assert isinstance(error, wlearn.errors.NotFittedError)
        assert isinstance(error, ValueError) and isinstance(error, AttributeError)
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(model)
    assert not hasattr(model, "n_features_in_")


def test_objects_in_x_are_type_errors():
    X = np.random.default_rng(0).uniform(size=(20, 3)).astype(object)
    y = np.arange(20) % 2
    MitraClassifier(onnx=CLF_ONNX).fit(X, y)  # numbers as objects are numbers
    X[0, 0] = {"foo": "bar"}
    for model in (MitraClassifier(onnx=CLF_ONNX), MitraRegressor(onnx=REG_ONNX)):
        with pytest.raises(TypeError, match="argument must be .* string.* number"):
            model.fit(X, y)
    fitted = MitraClassifier(onnx=CLF_ONNX).fit(X[1:].astype(float), y[1:])
    with pytest.raises(TypeError, match="not 'list'"):
        fitted.predict(np.array([[[1], 0.0, 0.0]], dtype=object))


@pytest.mark.parametrize("make", [lambda: MitraClassifier(onnx=CLF_ONNX),
                                  lambda: MitraRegressor(onnx=REG_ONNX),
                                  lambda: MitraModel(classifier_onnx=CLF_ONNX)])
def test_a_column_vector_y_warns_data_conversion(make):
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(1).uniform(size=(30, 3))
    y = np.arange(30) % 3
    reference = make().fit(X, y).save()
    for column in (y[:, None], pd.DataFrame({"y": y})):
        with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
            model = make().fit(X, column)
        assert model.save() == reference
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make().fit(X, y)


def test_complex_targets_are_refused_without_a_cast_warning():
    X = np.zeros((4, 2))
    y = np.array([1 + 1j, 2, 3, 4])
    for model in (MitraModel(classifier_onnx=CLF_ONNX, regressor_onnx=REG_ONNX),
                  MitraClassifier(onnx=CLF_ONNX), MitraRegressor(onnx=REG_ONNX)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(wlearn.errors.ValidationError, match="(?i)complex|numbers|dtype"):
                model.fit(X, y)


# -- MitraModel(task=None) inside cross-validation ----------------------------------------------

def test_mitra_model_without_task_cross_validates_as_the_estimator_it_becomes():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = load_iris(return_X_y=True)  # sorted by class: unstratified folds miss a class each
    detect = MitraModel(classifier_onnx=CLF_ONNX, regressor_onnx=REG_ONNX, max_support=60)
    direct = MitraClassifier(onnx=CLF_ONNX, max_support=60)
    scores = cross_val_score(detect, X, y, cv=3)
    np.testing.assert_array_equal(scores, cross_val_score(direct, X, y, cv=3))
    assert (scores > 0).all()  # today: [0, 0, 0], each fold scored on a class it never saw
    search = GridSearchCV(detect, {"max_support": [30, 60]}, cv=3).fit(X, y)
    reference = GridSearchCV(direct, {"max_support": [30, 60]}, cv=3).fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  reference.cv_results_["mean_test_score"])
    # A continuous target gets plain K-fold and R^2, as MitraRegressor does.
    target = X[:, 0] * 1.5 - X[:, 2] + 0.01 * np.arange(len(X))
    np.testing.assert_array_equal(
        cross_val_score(detect, X, target, cv=3),
        cross_val_score(MitraRegressor(onnx=REG_ONNX, max_support=60), X, target, cv=3),
    )
    assert detect._estimator_type == "classifier"
    assert detect.fit(X, target)._estimator_type == "regressor"
    assert not hasattr(detect, "predict_proba")
