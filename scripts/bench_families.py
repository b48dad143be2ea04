#!/usr/bin/python3
"""scikit-learn baselines for scripts/bench_families.sh (k-means, MLP, ridge).

One subcommand per benchmark; each loads the training and validation .npy files (2-D float32,
the label or target in LABEL_COLUMN), fits the scikit-learn counterparts with BLAS and OpenMP
limited to THREADS threads, timing only the fit (features are converted to the dtype being
timed before the clock starts), and prints one flat JSON object (numbers and strings only) on
standard output:

  kmeans  MiniBatchKMeans(max_iter=PASSES, n_init=1, tol=0.0, max_no_improvement=None,
          compute_labels=False) on float32 and on float64, and KMeans(n_init=1) (Lloyd, default
          max_iter, greedy k-means++) on float64, all with random_state SEED. Validation inertia
          of every model, including ringtrain's centres read from its model files
          (--ringtrain-model NAME=FILE, repeatable; its fit time can come along as
          --ringtrain-seconds NAME=S and is passed through), computed the same way: the sum over
          the validation rows of the squared distance to the nearest centre, in float64 by direct
          differences (x - c), not by the |x|^2 - 2 x.c + |c|^2 expansion. KMeans's own -score()
          on the float64 rows is printed too, as a check.
  kmeans-summary  reads the JSON lines of several kmeans runs (one per seed, --input FILE) and
          prints the table of bench_families.sh: per system the median over the seeds of the
          validation inertia and of the fit time, the gap to KMeans's median inertia, and the two
          targets (ringtrain NAME within 1% of KMeans, fit time at most MiniBatchKMeans's).
  fashion-mnist  converts Debian's dataset-fashion-mnist (IDX files, /usr/share/datasets/
          fashion-mnist) into two float32 .npy files, label in column 0, pixels scaled to [0, 1]:
          --train-out (60,000 rows) and --test-out (10,000 rows).
  mlp     MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="adam",
          batch_size, learning_rate_init, alpha, max_iter=PASSES, tol=0.0, n_iter_no_change=PASSES)
          on float32 and on float64: validation accuracy, final training loss, epochs run.
  ridge   Ridge(alpha, solver="cholesky") on float64 and on float32: validation R^2 (score());
          R^2 and RMSE of ringtrain's coefficients read from its model file, computed by the same
          numpy code; and timings of the steps of ringtrain's statistics pass, redone with numpy
          and the BLAS of scipy (same OpenBLAS) batch by batch: np.load of the training file,
          float32 -> shifted float64 conversion, dsyrk (X~^T X~), dgemv (X~^T y), and an ssyrk
          of the float32 rows for comparison.

Run it with Debian's python3 (scripts/setup.sh --bench installs python3-sklearn, python3-numpy).
"""
import argparse
import json
import os
import sys
import time
import warnings


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("kmeans-summary")
    p.add_argument("--input", required=True, help="JSON lines of kmeans runs, one per seed")
    p.add_argument("--label", default="", help="data set named in the table")
    p.add_argument("--new", default="new", help="the ringtrain NAME the targets are about")
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("fashion-mnist")
    p.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--train-out", required=True)
    p.add_argument("--test-out", required=True)
    p.add_argument("--threads", type=int, default=1)
    for name in ("kmeans", "mlp", "ridge"):
        p = sub.add_parser(name)
        p.add_argument("--train", required=True, help="training .npy")
        p.add_argument("--validation", required=True, help="validation .npy")
        p.add_argument("--label-column", type=int, default=0)
        p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
        p.add_argument("--repeats", type=int, default=1,
                       help="fits of each timed model; the fastest is reported (default 1)")
        p.add_argument("--seed", type=int, default=1)
        if name == "kmeans":
            p.add_argument("--ringtrain-model", action="append", default=[],
                           help="NAME=FILE: a ringtrain model file (.rtm) whose centres are "
                                "evaluated alike (repeatable)")
            p.add_argument("--ringtrain-seconds", action="append", default=[],
                           help="NAME=S: that model's fit seconds, passed through")
        else:
            p.add_argument("--ringtrain-model", default="",
                           help="ringtrain model file (.rtm) whose parameters are evaluated alike")
        if name in ("kmeans", "mlp"):
            p.add_argument("--passes", type=int, default=10, help="epochs (max_iter)")
            p.add_argument("--batch-size", type=int, required=True)
        if name == "kmeans":
            p.add_argument("--k", type=int, default=10)
            p.add_argument("--no-lloyd", action="store_true", help="skip KMeans (Lloyd)")
        if name == "mlp":
            p.add_argument("--hidden", type=int, default=128)
            p.add_argument("--learning-rate", type=float, default=1e-3)
            p.add_argument("--alpha", type=float, default=1e-4, help="MLPClassifier alpha (L2)")
        if name == "ridge":
            p.add_argument("--alpha", type=float, default=1.0)
            p.add_argument("--batch-size", type=int, default=4096,
                           help="rows per batch of the statistics-pass timing (ringtrain's)")
    return parser.parse_args()


ARGS = parse_args()
# Thread counts must be fixed before numpy's BLAS starts.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

# max_iter epochs is exactly what is asked for (MLPClassifier warns at max_iter=10).
warnings.filterwarnings("ignore", category=ConvergenceWarning)


def fail(message):
    sys.exit(f"bench_families.py: {message}")


def load(path):
    """(features float32, label column float32) of a 2-D .npy file."""
    table = np.load(path)
    if table.ndim != 2:
        fail(f"{path}: expected a 2-D array, got shape {table.shape}")
    col = ARGS.label_column if ARGS.label_column >= 0 else table.shape[1] - 1
    x = np.ascontiguousarray(np.delete(table, col, axis=1), dtype=np.float32)
    y = np.ascontiguousarray(table[:, col])
    return x, y


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return f"{pool.get('internal_api')} {pool.get('version')} " \
                       f"({pool.get('architecture')}; {pool.get('num_threads')} threads)"
    except Exception:  # threadpoolctl missing or failing: not worth failing the benchmark
        pass
    return "unknown"


def rtm_params(path):
    """The parameters (float32) of a ringtrain model file: the state follows the 32-byte file
    header and the spec text (padded to 64 bytes); inside the state, the 128-byte header
    (param_count at byte 80, history_count at byte 96), the loss history (doubles) and the
    parameters, each part aligned to 64 bytes (src/models/registry.c, rt_state_layout_of)."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"RTMODEL\0":
        fail(f"{path}: not a ringtrain model file")
    spec_len = int.from_bytes(blob[16:24], "little")
    state_off = (32 + spec_len + 63) // 64 * 64
    state = blob[state_off:]
    align = lambda n: (n + 63) // 64 * 64  # noqa: E731
    param_count = int.from_bytes(state[80:88], "little")
    history_count = int.from_bytes(state[96:104], "little")
    params_off = align(align(128) + 8 * history_count)
    return np.frombuffer(state, dtype="<f4", count=param_count, offset=params_off).copy()


def inertia64(x64, centres):
    """Sum over rows of the squared distance to the nearest centre, float64, direct differences."""
    c64 = np.asarray(centres, dtype=np.float64)
    best = None
    for c in c64:
        d = x64 - c
        d = np.einsum("ij,ij->i", d, d)
        best = d if best is None else np.minimum(best, d)
    return float(best.sum())


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def fit_best(make, *data):
    """Fits a fresh make() ARGS.repeats times (the estimators here are deterministic for a
    fixed random_state); returns the last model, the fastest time and every time as 'a/b/c'."""
    times = []
    for _ in range(max(1, ARGS.repeats)):
        model = make()
        _, seconds = timed(lambda: model.fit(*data))
        times.append(seconds)
    return model, round(min(times), 4), "/".join(f"{t:.3f}" for t in times)


def bench_kmeans(out):
    from sklearn.cluster import KMeans, MiniBatchKMeans
    x, _ = load(ARGS.train)
    xv, _ = load(ARGS.validation)
    xv64 = xv.astype(np.float64)
    out.update(train_rows=x.shape[0], validation_rows=xv.shape[0], features=x.shape[1], k=ARGS.k)
    for dtype in ("float32", "float64"):
        xt = np.ascontiguousarray(x, dtype=dtype)
        model, best, every = fit_best(
            lambda: MiniBatchKMeans(n_clusters=ARGS.k, batch_size=ARGS.batch_size,
                                    max_iter=ARGS.passes, n_init=1, tol=0.0,
                                    max_no_improvement=None, compute_labels=False,
                                    random_state=ARGS.seed), xt)
        out[f"mbk_{dtype}_seconds"] = best
        out[f"mbk_{dtype}_all"] = every
        out[f"mbk_{dtype}_n_iter"] = int(model.n_iter_)
        out[f"mbk_{dtype}_n_steps"] = int(model.n_steps_)
        out[f"mbk_{dtype}_val_inertia"] = inertia64(xv64, model.cluster_centers_)
    out["mbk_rows_seen"] = out["mbk_float32_n_steps"] * ARGS.batch_size
    out["mbk_init_size"] = int(model._init_size)
    if not ARGS.no_lloyd:
        x64 = x.astype(np.float64)
        # The accuracy reference: timed once, whatever --repeats says.
        model = KMeans(n_clusters=ARGS.k, n_init=1, random_state=ARGS.seed)
        _, seconds = timed(lambda: model.fit(x64))
        out["lloyd_seconds"] = round(seconds, 4)
        out["lloyd_n_iter"] = int(model.n_iter_)
        out["lloyd_max_iter"] = int(model.max_iter)
        out["lloyd_val_inertia"] = inertia64(xv64, model.cluster_centers_)
        out["lloyd_val_inertia_score"] = float(-model.score(xv64))
    seconds = dict(named(v) for v in ARGS.ringtrain_seconds)
    for name, path in (named(v) for v in ARGS.ringtrain_model):
        centres = rtm_params(path).reshape(ARGS.k, x.shape[1])
        key = f"ringtrain_{name}" if name else "ringtrain"
        out[f"{key}_val_inertia"] = inertia64(xv64, centres)
        if name in seconds:
            out[f"{key}_seconds"] = float(seconds[name])


def named(value):
    """'NAME=VALUE' -> (NAME, VALUE); a plain VALUE has the name ''."""
    name, sep, rest = value.partition("=")
    return (name, rest) if sep else ("", value)


def bench_kmeans_summary():
    """The table of a multi-seed k-means benchmark (see the module docstring)."""
    import statistics
    runs = [json.loads(line) for line in open(ARGS.input) if line.strip()]
    if not runs:
        fail(f"{ARGS.input}: no runs")
    names = sorted({k[len("ringtrain_"):-len("_val_inertia")] for r in runs for k in r
                    if k.startswith("ringtrain_") and k.endswith("_val_inertia")})
    systems = [(f"ringtrain {n}", f"ringtrain_{n}_seconds", f"ringtrain_{n}_val_inertia")
               for n in names]
    systems += [(f"sklearn MiniBatchKMeans, {dt}", f"mbk_{dt}_seconds", f"mbk_{dt}_val_inertia")
                for dt in ("float32", "float64")]
    systems.append(("sklearn KMeans (Lloyd), float64", "lloyd_seconds", "lloyd_val_inertia"))

    def med(key):
        values = [r[key] for r in runs if key in r]
        return statistics.median(values) if len(values) == len(runs) else float("nan")

    lloyd = med("lloyd_val_inertia")
    seeds = ",".join(str(r["seed"]) for r in runs)
    print(f"# {ARGS.label}: median over {len(runs)} seeds ({seeds}) of each system's fit time "
          "and validation inertia; vs_kmeans = median inertia / KMeans's median inertia - 1")
    print(f"{'system':<38} {'fit_s':>9} {'val_inertia':>16} {'vs_kmeans':>10}  per-seed inertia")
    for label, t_key, i_key in systems:
        t, i = med(t_key), med(i_key)
        per_seed = " ".join(f"{r[i_key]:.1f}" for r in runs if i_key in r)
        print(f"{label:<38} {t:>9.3f} {i:>16.1f} {100 * (i / lloyd - 1):>+9.2f}%  {per_seed}")
    new = f"ringtrain_{ARGS.new}"
    mbk = min(med("mbk_float32_seconds"), med("mbk_float64_seconds"))
    gap = 100 * (med(f"{new}_val_inertia") / lloyd - 1)
    ratio = mbk / med(f"{new}_seconds")
    print(f"# target ringtrain {ARGS.new} median validation inertia within 1% of KMeans's: "
          f"{gap:+.2f}%: {'yes' if gap < 1 else 'no'}")
    print(f"# target ringtrain {ARGS.new} fit time at most MiniBatchKMeans's (fastest dtype, "
          f"medians): {ratio:.2f}x: {'yes' if ratio >= 1 else 'no'}")
    print(f"# KMeans iterations per seed: {' '.join(str(r['lloyd_n_iter']) for r in runs)}; "
          f"scikit-learn {runs[0]['sklearn']}, numpy {runs[0]['numpy']}, BLAS {runs[0]['blas']}")


def fashion_mnist():
    """Debian's Fashion-MNIST IDX files -> float32 .npy (label, 784 pixels / 255)."""
    import gzip

    def idx(name, header):
        path = os.path.join(ARGS.dir, name)
        try:
            with gzip.open(path, "rb") as f:
                blob = f.read()
        except OSError as e:
            fail(f"{path}: {e} (install Debian's dataset-fashion-mnist)")
        return np.frombuffer(blob, dtype=np.uint8, offset=header)

    for prefix, out in (("train", ARGS.train_out), ("t10k", ARGS.test_out)):
        labels = idx(f"{prefix}-labels-idx1-ubyte.gz", 8)
        images = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(len(labels), 28 * 28)
        table = np.empty((len(labels), 1 + 28 * 28), dtype=np.float32)
        table[:, 0] = labels
        table[:, 1:] = images.astype(np.float32) / np.float32(255.0)
        np.save(out + ".tmp.npy", table)
        os.replace(out + ".tmp.npy", out)
        print(f"{out}: {table.shape[0]} x {table.shape[1]} float32")


def bench_mlp(out):
    from sklearn.neural_network import MLPClassifier
    x, y = load(ARGS.train)
    xv, yv = load(ARGS.validation)
    y, yv = y.astype(np.int64), yv.astype(np.int64)
    out.update(train_rows=x.shape[0], validation_rows=xv.shape[0], features=x.shape[1],
               classes=int(y.max()) + 1, hidden=ARGS.hidden, alpha=ARGS.alpha,
               learning_rate=ARGS.learning_rate)
    for dtype in ("float32", "float64"):
        xt = np.ascontiguousarray(x, dtype=dtype)
        model, best, every = fit_best(
            lambda: MLPClassifier(hidden_layer_sizes=(ARGS.hidden,), activation="relu",
                                  solver="adam", alpha=ARGS.alpha, batch_size=ARGS.batch_size,
                                  learning_rate_init=ARGS.learning_rate, beta_1=0.9,
                                  beta_2=0.999, epsilon=1e-8, max_iter=ARGS.passes,
                                  shuffle=True, tol=0.0, n_iter_no_change=ARGS.passes,
                                  random_state=ARGS.seed), xt, y)
        out[f"mlp_{dtype}_seconds"] = best
        out[f"mlp_{dtype}_all"] = every
        out[f"mlp_{dtype}_n_iter"] = int(model.n_iter_)
        out[f"mlp_{dtype}_train_loss"] = float(model.loss_)
        out[f"mlp_{dtype}_accuracy"] = float((model.predict(xv.astype(dtype)) == yv).mean())


def bench_ridge(out):
    from sklearn.linear_model import Ridge
    (table, load_s) = timed(lambda: np.load(ARGS.train))
    out["np_load_seconds"] = round(load_s, 4)
    out["train_bytes"] = int(table.nbytes)
    del table
    x, y = load(ARGS.train)
    xv, yv = load(ARGS.validation)
    xv64, yv64 = xv.astype(np.float64), yv.astype(np.float64)
    n, d = x.shape
    out.update(train_rows=n, validation_rows=xv.shape[0], features=d, alpha=ARGS.alpha)
    sst = float(((yv64 - yv64.mean()) ** 2).sum())

    def r2_rmse(w, b):
        e = xv64 @ np.asarray(w, dtype=np.float64) + float(b) - yv64
        sse = float(e @ e)
        return 1.0 - sse / sst, (sse / len(yv64)) ** 0.5

    coef = {}
    for dtype in ("float64", "float32"):
        xt = np.ascontiguousarray(x, dtype=dtype)
        yt = y.astype(dtype)
        model, best, every = fit_best(
            lambda: Ridge(alpha=ARGS.alpha, solver="cholesky", fit_intercept=True), xt, yt)
        del xt
        out[f"ridge_{dtype}_seconds"] = best
        out[f"ridge_{dtype}_all"] = every
        out[f"ridge_{dtype}_r2"] = float(model.score(xv64, yv64))
        r2, rmse = r2_rmse(model.coef_, model.intercept_)
        out[f"ridge_{dtype}_r2_numpy"] = r2
        out[f"ridge_{dtype}_rmse"] = rmse
        coef[dtype] = np.append(np.asarray(model.coef_, dtype=np.float64), model.intercept_)
    if ARGS.ringtrain_model:
        p = rtm_params(ARGS.ringtrain_model).astype(np.float64)
        if p.size != d + 1:
            fail(f"{ARGS.ringtrain_model}: {p.size} parameters, expected {d + 1}")
        r2, rmse = r2_rmse(p[:d], p[d])
        out["ringtrain_r2"] = r2
        out["ringtrain_rmse"] = rmse
        out["ringtrain_max_abs_coef_diff"] = float(np.abs(p - coef["float64"]).max())

    # ringtrain's statistics pass step by step (src/models/family_linear.c, exact_accumulate): per
    # batch, the rows minus the first row converted to double with a column of ones, then
    # G += X~^T X~ (dsyrk, upper) and r += X~^T y' (dgemv). Same OpenBLAS, 1 thread.
    from scipy.linalg import blas
    b = ARGS.batch_size
    q = d + 1
    g = np.zeros((q, q), order="F")
    r = np.zeros(q)
    xd = np.empty((b, q))
    x0, y0 = x[0].astype(np.float64), float(y[0])
    convert_s = syrk_s = gemv_s = 0.0
    for first in range(0, n, b):
        rows = min(b, n - first)
        t0 = time.perf_counter()
        xb = xd[:rows]
        np.subtract(x[first:first + rows], x0, out=xb[:, :d])
        xb[:, d] = 1.0
        yb = y[first:first + rows].astype(np.float64) - y0
        t1 = time.perf_counter()
        # xb is C-ordered (rows x q) = Fortran (q x rows): G += xb^T xb is dsyrk(trans=0) of it.
        g = blas.dsyrk(1.0, xb.T, beta=1.0, c=g, trans=0, lower=0, overwrite_c=1)
        t2 = time.perf_counter()
        r = blas.dgemv(1.0, xb, yb, beta=1.0, y=r, trans=1, overwrite_y=1)
        t3 = time.perf_counter()
        convert_s += t1 - t0
        syrk_s += t2 - t1
        gemv_s += t3 - t2
    out["stats_batch_size"] = b
    out["stats_convert_seconds"] = round(convert_s, 4)
    out["stats_dsyrk_seconds"] = round(syrk_s, 4)
    out["stats_dgemv_seconds"] = round(gemv_s, 4)
    out["stats_total_seconds"] = round(convert_s + syrk_s + gemv_s, 4)
    out["stats_dsyrk_gflops"] = round(n * q * (q + 1) / syrk_s / 1e9, 2)
    # The same products in float32 on the rows as stored (a lower bound on the compute alone).
    gs = np.zeros((d, d), dtype=np.float32, order="F")
    start = time.perf_counter()
    for first in range(0, n, b):
        gs = blas.ssyrk(1.0, x[first:first + b].T, beta=1.0, c=gs, trans=0, lower=0,
                        overwrite_c=1)
    ssyrk_s = time.perf_counter() - start
    out["stats_ssyrk_seconds"] = round(ssyrk_s, 4)
    out["stats_ssyrk_gflops"] = round(n * d * (d + 1) / ssyrk_s / 1e9, 2)


def main():
    if ARGS.bench == "kmeans-summary":
        return bench_kmeans_summary()
    if ARGS.bench == "fashion-mnist":
        return fashion_mnist()
    out = {"bench": ARGS.bench, "sklearn": sklearn.__version__, "numpy": np.__version__,
           "blas": blas_info(), "threads": ARGS.threads}
    if ARGS.bench == "kmeans":
        out["seed"] = ARGS.seed
    {"kmeans": bench_kmeans, "mlp": bench_mlp, "ridge": bench_ridge}[ARGS.bench](out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
