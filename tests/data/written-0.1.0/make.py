"""Write the bundles and pickles of tests/data/written-0.1.0 with wlearn-mitra 0.1.0 (main at
2758101, before the package moved into folders), with each one's recorded predictions.

Run once, from the repository root, with that version installed or on PYTHONPATH:
    python tests/data/written-0.1.0/make.py
The files are test data: later versions must load them and answer the same
(tests/mitra/test_written_files.py).
"""

import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor

HERE = Path(__file__).resolve().parent
TINY_V2 = HERE.parent / "mitra-v2" / "tiny-regressor-2.onnx"


def tables():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    labels = np.array(["ant", "bee", "cat"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    y_reg = (2.0 * X[:, 0] - X[:, 2] + 0.1 * rng.normal(size=90)).astype(np.float64)
    frame = pd.DataFrame({
        "size": rng.normal(size=90),
        "colour": pd.Categorical(rng.choice(["red", "green", "blue", None], size=90)),
        "count": rng.integers(0, 5, size=90).astype(float),
    })
    frame_y = np.where(frame["size"] > 0, "big", "small")
    X_many = rng.normal(size=(120, 3)).astype(np.float32)
    y_many = (np.floor((X_many[:, 0] + 3) * 2).clip(0, 11)).astype(int)
    return X, labels, y_reg, frame, frame_y, X_many, y_many


def main():
    warnings.simplefilter("ignore")
    X, labels, y_reg, frame, frame_y, X_many, y_many = tables()
    Xq, frame_q, Xq_many = X[60:], frame.iloc[60:], X_many[80:]
    expected = {}
    made = {
        "classifier": (MitraClassifier(max_support=48, n_estimators=2).fit(X[:60], labels[:60]), Xq),
        "regressor": (MitraRegressor(max_support=48).fit(X[:60], y_reg[:60]), Xq),
        "categories": (MitraClassifier(max_support=48).fit(frame.iloc[:60], frame_y[:60]), frame_q),
        "hierarchy": (MitraClassifier(max_support=64, max_node_classes=4)
                      .fit(X_many[:80], y_many[:80]), Xq_many),
        "bins": (MitraRegressor(onnx=str(TINY_V2), max_support=48).fit(X[:60], y_reg[:60]), Xq),
        "model": (MitraModel(max_support=48).fit(X[:60], y_reg[:60]), Xq),
    }
    for name, (est, query) in made.items():
        if name != "model":
            (HERE / f"{name}.wlrn").write_bytes(est.save())
        if name != "bins":  # a pickle carries the model's path: only built-in models travel
            (HERE / f"{name}.pkl").write_bytes(pickle.dumps(est))
        expected[f"{name}_predict"] = np.asarray(est.predict(query))
        if hasattr(est, "predict_proba") and name != "model":
            expected[f"{name}_proba"] = est.predict_proba(query)
        if name == "bins":
            expected["bins_quantiles"] = est.predict_quantiles(query, [0.1, 0.5, 0.9])
    np.savez(HERE / "expected.npz", **expected)
    print(sorted(p.name for p in HERE.iterdir()))


if __name__ == "__main__":
    sys.exit(main())
