"""The estimators users hold: MitraClassifier, MitraRegressor and MitraModel.

Their modules (``_base`` and the rest) are private; import the classes from here or from
:mod:`wlearn_mitra`. Pickles name ``wlearn_mitra.estimators.<Class>``.
"""

from ._base import MitraClassifier, MitraModel, MitraRegressor, detect_task

__all__ = ["MitraClassifier", "MitraRegressor", "MitraModel", "detect_task"]
