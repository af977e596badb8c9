"""Runs inside the extra environments of ``test_two_cores.py``; never imported by pytest.

``python _probe.py api OUT`` exercises the 0.3 bundle/registry/errors API and records the
results; ``python _probe.py write OUT FIXTURES`` fits and saves models with whatever ``wlearn`` core
and plugins the environment has and records what it saw; ``python _probe.py read OUT OTHER``
loads the other environment's bundles through this environment's ``wlearn.load``. Everything
goes to files in OUT (``summary.json``, ``*.wlrn``, ``*.npy``) for the test to compare.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

import wlearn

try:
    import wlearn_mitra
except ImportError:  # the environment with this project's core and an upstream plugin only
    wlearn_mitra = None

CASES = ["a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7", "e_regression_all"]


def _rf_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float64) * 3 + 2  # labels 2 and 5: classifier@2
    return X, y


def write(out: Path, fixtures: Path) -> None:
    summary: dict = {
        "versions": {name: _version(name) for name in ("wlearn", "wlearn-rf", "wlearn-mitra", "wlrn")},
        "wlearn_file": wlearn.__file__,
    }
    X, y = _rf_data()
    rf = _fitted_rf(X, y)
    (out / "rf.wlrn").write_bytes(rf.save())
    np.save(out / "rf_X.npy", X)
    np.save(out / "rf_pred.npy", np.asarray(rf.predict(X), dtype=np.float64))
    reloaded = wlearn.load((out / "rf.wlrn").read_bytes())
    np.save(out / "rf_reloaded_pred.npy", np.asarray(reloaded.predict(X), dtype=np.float64))
    # a 0.3-form bundle holding the forest as a nested bundle, written by this core's encoder
    holder = wlearn.encode_bundle(
        {"typeId": "wlearn.test.holder@1", "params": {"note": "caf\u00e9", "scale": 1.0}},
        [{"id": "inner", "data": (out / "rf.wlrn").read_bytes(),
          "mediaType": "application/x-wlearn-bundle"}],
    )
    (out / "holder.wlrn").write_bytes(holder)

    if wlearn_mitra is not None:
        from wlearn_mitra import MitraClassifier, MitraRegressor

        onnx = fixtures / "onnx"
        wlearn_mitra.register_loaders(classifier=str(onnx / "tiny-mitra-classifier.onnx"),
                                      regressor=str(onnx / "tiny-mitra-regressor.onnx"))
        for name in CASES:
            root = fixtures / "mitra-js" / name
            info = json.loads((root / "case.json").read_text())
            regression = info["kind"] == "regressor"
            cls = MitraRegressor if regression else MitraClassifier
            model_path = onnx / ("tiny-mitra-regressor.onnx" if regression
                                 else "tiny-mitra-classifier.onnx")
            X_case, y_case = np.load(root / "X.npy"), np.load(root / "y.npy")
            params = dict(info["params_given"])
            if not regression:  # @wlearn/mitra's support pick, which its bytes need
                params["supportSelection"] = "balanced"
            fitted = cls.create(model_path.read_bytes(), params).fit(X_case, y_case)
            (out / f"mitra_{name}_fit.wlrn").write_bytes(fitted.save())
            loaded = wlearn.load((root / "model.wlrn").read_bytes())  # this core's dispatch
            (out / f"mitra_{name}_resaved.wlrn").write_bytes(loaded.save())
            Xq = np.load(root / "Xq.npy")
            pred = loaded.predict(Xq) if regression else loaded.predict_proba(Xq)
            np.save(out / f"mitra_{name}_pred.npy", np.asarray(pred, dtype=np.float64))
        # labels JavaScript cannot hold: the versioned labels extension
        root = fixtures / "mitra-js" / "b_3class_strat_s42"
        X_case, y_case = np.load(root / "X.npy"), np.load(root / "y.npy")
        names = np.array(["setosa", "versicolor", "virginica\u00e9"])[y_case.astype(int)]
        clf = MitraClassifier(onnx=str(onnx / "tiny-mitra-classifier.onnx"), max_support=64,
                              seed=5).fit(X_case, names)
        (out / "mitra_labels.wlrn").write_bytes(clf.save())
        summary["labels_pred"] = [str(v) for v in clf.predict(np.load(root / "Xq.npy"))]
        # a string column: the versioned categories extension
        categories = MitraClassifier(onnx=str(onnx / "tiny-mitra-classifier.onnx"),
                                     max_support=64, seed=5).fit(with_category(X_case), y_case)
        (out / "mitra_categories.wlrn").write_bytes(categories.save())
        back = wlearn.load((out / "mitra_categories.wlrn").read_bytes())
        Xq_cat = with_category(np.load(root / "Xq.npy"))
        np.save(out / "mitra_categories_proba.npy", np.asarray(back.predict_proba(Xq_cat)))
        summary["mitra_registered"] = sorted(t for t in wlearn.get_registry() if "mitra" in t)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


def with_category(X: np.ndarray) -> np.ndarray:
    """Column 2 as strings (an object array: no pandas needed), a category column."""
    coded = X.astype(object)
    coded[:, 2] = np.where(X[:, 2] > 0, "hi\u00e9", np.where(X[:, 2] > -0.5, "mid", "lo"))
    return coded


def _fitted_rf(X: np.ndarray, y: np.ndarray):
    import wlearn_rf  # registers its loaders with the installed core

    model = wlearn_rf.RFModel.create({"nEstimators": 15, "seed": 3})
    model.fit(X, y)
    return model


def read(out: Path, other: Path) -> None:
    import wlearn_rf  # noqa: F401  (registers its loaders)

    summary: dict = {}
    X = np.load(other / "rf_X.npy")
    model = wlearn.load((other / "rf.wlrn").read_bytes())
    np.save(out / "rf_other_pred.npy", np.asarray(model.predict(X), dtype=np.float64))
    manifest, toc, _ = wlearn.validate_bundle((other / "holder.wlrn").read_bytes(),
                                              allow_legacy_manifest=False)
    summary["holder_manifest"] = manifest
    summary["holder_toc"] = toc
    (out / "read.json").write_text(json.dumps(summary, indent=1))


def api(out: Path) -> None:
    """The 0.3 bundle/registry/errors API used as 0.3's own code and plugins use it; the
    results (values, error classes and codes) go to api.json for comparison across cores."""
    from wlearn.bundle import decode_bundle, encode_bundle, validate_bundle
    from wlearn.errors import BundleError, RegistryError
    from wlearn.registry import assert_required_loaders, load, register

    results: dict = {}

    def attempt(name, fn):
        try:
            value = fn()
            results[name] = {"ok": _plain(value)}
        except Exception as exc:  # the class and code are what is compared
            results[name] = {"error": type(exc).__name__, "code": getattr(exc, "code", None),
                             "bundle_error": isinstance(exc, BundleError),
                             "registry_error": isinstance(exc, RegistryError)}

    inner = encode_bundle({"typeId": "probe.leaf@1", "params": {"a": 1}},
                          [{"id": "z", "data": b"zz"}, {"id": "a", "data": bytearray(b"a"),
                                                       "mediaType": "text/plain"}])
    outer = encode_bundle({"typeId": "probe.node@1", "requires": ["probe.extra@3"]},
                          [{"id": "child", "data": inner,
                            "mediaType": "application/x-wlearn-bundle"}])
    attempt("inner", lambda: decode_bundle(inner)[:2])
    attempt("outer", lambda: validate_bundle(outer, allow_legacy_manifest=False)[:2])
    attempt("outer_blob", lambda: bytes(_child(outer)))
    attempt("depth", lambda: validate_bundle(outer, limits={"max_nesting_depth": 0}))
    attempt("decoded", lambda: validate_bundle(outer, limits={"max_decoded_bytes": 100}))
    attempt("artifacts", lambda: encode_bundle({"typeId": "p.q@1"}, [{"id": "a", "data": b""}],
                                               limits={"max_artifacts": 0}))
    attempt("no_type", lambda: encode_bundle({"params": {}}, []))
    attempt("bad_params", lambda: encode_bundle({"typeId": "p.q@1", "params": []}, []))
    attempt("nan", lambda: encode_bundle({"typeId": "p.q@1", "params": {"x": float("nan")}}, []))
    attempt("legacy_nested", lambda: encode_bundle(
        {"typeId": "p.q@1"}, [{"id": "n", "data": b"WLRN", "mediaType":
                               "application/x-wlearn-bundle"}]))
    attempt("truncated", lambda: decode_bundle(inner[:-1]))
    attempt("bad_limit", lambda: decode_bundle(inner, limits={"max_artifacts": -1}))
    attempt("register_bad", lambda: register("no-at", len))
    attempt("register_ctx", lambda: register("p.q@1", len, accepts_context="yes"))
    attempt("missing_nested", lambda: assert_required_loaders(decode_bundle(outer)[0]))
    seen = []
    register("probe.leaf@1", lambda m, t, b, c: seen.append(dict(c["loaderOptions"].get("probe.leaf@1", {})))
             or m["params"], accepts_context=True)
    register("probe.extra@3", lambda m, t, b: None)
    register("probe.node@1", lambda m, t, b: load(_child(outer)))
    attempt("load_leaf", lambda: load(inner, loader_options={"probe.leaf@1": {"k": 1}}))
    attempt("load_node", lambda: load(outer))
    attempt("context_seen", lambda: seen)
    attempt("unknown", lambda: load(encode_bundle({"typeId": "probe.none@1"}, [])))

    # 0.3's words, which callers may match on, begin the message on both cores.
    def words(name, pattern, fn):
        try:
            fn()
            results[name] = {"ok": None}
        except Exception as exc:
            results[name] = {"error": type(exc).__name__,
                             "matches": re.search(pattern, str(exc)) is not None}

    words("words_unknown", r'^No loader registered for typeId "probe\.none@1"\.',
          lambda: load(encode_bundle({"typeId": "probe.none@1"}, [])))
    words("words_manifest", r"^Manifest exceeds maximum size 1\b",
          lambda: decode_bundle(inner, limits={"max_manifest_bytes": 1}))
    words("words_register", r'^Invalid typeId "no-at": must contain "@"',
          lambda: register("no-at", len))
    words("words_tuple", r"not representable in portable JSON",
          lambda: encode_bundle({"typeId": "p.q@1", "metadata": {"v": (1, 2)}}, []))
    words("words_missing_nested", r'^Missing required loader for nested typeId "probe\.',
          lambda: assert_required_loaders({"requires": ["probe.absent@1"]}))
    from wlearn.errors import NotFittedError
    results["not_fitted_is_attribute_error"] = issubclass(NotFittedError, AttributeError)
    (out / "api.json").write_text(json.dumps(results, indent=1, sort_keys=True))


def _child(outer: bytes) -> bytes:
    from wlearn.bundle import decode_bundle

    _, toc, blobs = decode_bundle(outer)
    return bytes(blobs[toc[0]["offset"]:toc[0]["offset"] + toc[0]["length"]])


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    command, out_dir = sys.argv[1:3]
    if command == "api":
        api(Path(out_dir))
    else:
        (write if command == "write" else read)(Path(out_dir), Path(sys.argv[3]))
