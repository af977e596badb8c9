"""The task table: for each Mitra task its name, kind, bundle typeId, environment variable and
built-in and test model files, written here once and read by every other module."""

from __future__ import annotations

from typing import NamedTuple


class Task(NamedTuple):
    #: ``"classification"`` or ``"regression"``: the estimators' ``task``.
    name: str
    #: ``"classifier"`` or ``"regressor"``: scikit-learn's estimator type, and the word in
    #: model file names (``mitra-classifier.onnx``) and messages.
    kind: str
    #: The ``typeId`` its bundles are written with (``spec/mitra.md``).
    type_id: str
    #: The environment variable naming its model file.
    env_var: str
    #: Its built-in model, in the package's ``data/``.
    builtin_file: str
    #: Its tiny random-weight test model, in the package's ``data/`` (the demo's, and the one
    #: the JS package's test bundles were made with): answers carry no meaning.
    test_file: str


TASKS = {
    task.name: task for task in (
        Task("classification", "classifier", "wlearn.mitra_onnx.classifier@1",
             "WLEARN_MITRA_CLASSIFIER_ONNX", "mitra-builtin-classifier.onnx",
             "tiny-mitra-classifier.onnx"),
        Task("regression", "regressor", "wlearn.mitra_onnx.regressor@1",
             "WLEARN_MITRA_REGRESSOR_ONNX", "mitra-builtin-regressor.onnx",
             "tiny-mitra-regressor.onnx"),
    )
}

#: A regressor whose model has a bin head (Mitra-v2): a second typeId read and written for
#: regression (``spec/mitra.md``), which @wlearn/mitra 0.1 refuses.
REGRESSOR_BINS_TYPE_ID = "wlearn.mitra_onnx.regressor@2"

#: Every typeId the plugin reads -> its task.
TASK_OF_TYPE_ID = {
    **{task.type_id: task.name for task in TASKS.values()},
    REGRESSOR_BINS_TYPE_ID: "regression",
}
