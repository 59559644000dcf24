#!/bin/sh
# Issue 19 items 3-5 (urf, VAN-AD on one-channel series): the runs behind the figures in the notes.
# Run from the repository root with PYTHONPATH=$PWD/src; one thread each; outputs in runs/ (git-ignored).
set -e
PY=${PY:-.venv/bin/python}
export ANOMALYFORGE_NUM_THREADS=1 OMP_NUM_THREADS=1
# dev-suite decisions (never the quick suite)
$PY bench/dev_variants.py urf raw_mean='{"score":"mean"}' raw_knn='{"score":"knn"}' \
    summary_mean='{"features":"summary","score":"mean"}' summary_knn='{"features":"summary","score":"knn"}' \
    --score-only score --out runs/dev_urf.jsonl
$PY bench/dev_variants.py vanad rows='{"univariate_image":"rows","mae_time_budget":20}' \
    periods8='{"n_periods":8,"mae_time_budget":20}' periods4='{"n_periods":4,"mae_time_budget":20}' \
    --datasets UCR --limit 14 --out runs/dev_vanad.jsonl
# quick suite: urf with knn in the same run; VAN-AD budgeted (20 s MAE training), one-channel parts both ways
$PY -m anomalyforge.cli bench --suite quick --detectors urf,knn --out runs/q_urf --workers 1
$PY -m anomalyforge.cli bench --suite bench/suites/quick_smd_msl_gecco.json --detectors vanad \
    --out runs/q_vanad_multi --workers 1 --param vanad.mae_time_budget=20
$PY -m anomalyforge.cli bench --suite bench/suites/quick_ucr_nab.json --detectors vanad --out runs/q_vanad_uni \
    --workers 1 --param vanad.mae_time_budget=20
$PY -m anomalyforge.cli bench --suite bench/suites/quick_ucr_nab.json --detectors vanad --out runs/q_vanad_uni_rows \
    --workers 1 --param vanad.mae_time_budget=20 --param vanad.univariate_image=rows
$PY bench/bench_long_series.py --only urf,knn
$PY bench/compare_runs.py urf=runs/q_urf:urf knn=runs/q_urf:knn
$PY bench/compare_runs.py periods=runs/q_vanad_uni rows=runs/q_vanad_uni_rows
