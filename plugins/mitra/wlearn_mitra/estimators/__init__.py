"""The estimators users hold: MitraClassifier, MitraRegressor and MitraModel.

Import them from here or from :mod:`wlearn_mitra`; their modules are private: ``_params``
(the scikit-learn parameter protocol, knowing no estimator's parameters), ``_base`` (what the
two estimators share), ``_classifier``, ``_regressor``, ``_model``, ``_pickling``,
``_distribution``. Pickles made before the estimators were split into modules name
``wlearn_mitra.estimators.<Class>``, which stays importable here.
"""

from ..inputs._checks import detect_task
from ._classifier import MitraClassifier
from ._model import MitraModel
from ._regressor import MitraRegressor

__all__ = ["MitraClassifier", "MitraRegressor", "MitraModel", "detect_task"]
