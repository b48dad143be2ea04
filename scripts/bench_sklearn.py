#!/usr/bin/python3
"""scikit-learn baseline for scripts/bench.sh.

Trains SGDClassifier(loss="log_loss", max_iter=PASSES, tol=None) on a training .npy and scores it
on a validation .npy (2-D, label in LABEL_COLUMN), timing only the fit (features are converted
to float64, the type SGDClassifier computes in, before the clock starts). Prints one JSON
object: {"seconds", "accuracy", "train_rows", "validation_rows", "features", "classes",
"max_iter", "sklearn"}. Run it with Debian's python3 (scripts/setup.sh --bench installs
python3-sklearn and python3-numpy).
"""
import argparse
import json
import os
import sys
import time
import warnings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="training .npy")
    parser.add_argument("--validation", required=True, help="validation .npy")
    parser.add_argument("--label-column", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=10, help="passes over the data")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP threads and SGDClassifier n_jobs (default 1)")
    args = parser.parse_args()

    # Thread counts must be fixed before numpy's BLAS starts.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    # max_iter passes with tol=None is exactly what is asked for: no warning about it.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    def load(path):
        table = np.load(path, mmap_mode=None)
        if table.ndim != 2:
            sys.exit(f"bench_sklearn.py: {path}: expected a 2-D array, got shape {table.shape}")
        col = args.label_column if args.label_column >= 0 else table.shape[1] - 1
        y = table[:, col].astype(np.int64)
        # SGDClassifier computes in float64; convert here so that the timing is the fit alone.
        x = np.ascontiguousarray(np.delete(table, col, axis=1), dtype=np.float64)
        return x, y

    x_train, y_train = load(args.train)
    x_val, y_val = load(args.validation)

    model = SGDClassifier(loss="log_loss", max_iter=args.max_iter, tol=None,
                          random_state=args.seed, n_jobs=args.threads)
    start = time.perf_counter()
    model.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    accuracy = float((model.predict(x_val) == y_val).mean())

    print(json.dumps({
        "seconds": round(seconds, 6),
        "accuracy": round(accuracy, 6),
        "train_rows": int(x_train.shape[0]),
        "validation_rows": int(x_val.shape[0]),
        "features": int(x_train.shape[1]),
        "classes": int(len(model.classes_)),
        "max_iter": args.max_iter,
        "threads": args.threads,
        "sklearn": sklearn.__version__,
    }))


if __name__ == "__main__":
    main()
