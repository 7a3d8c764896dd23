#!/usr/bin/env bash
# avlib entry point. Creates the project venv (.venv) if absent, installs the pinned set once
# (re-installs only when pyproject.toml or requirements/cpu-lock.txt change), then:
#   ./run.sh            # main job: dvc repro at the profile in params/profile.yaml
#   ./run.sh test       # ruff (lint + format check), then the test suite (what CI runs; -m realdata|golden|slow|... to select)
#   ./run.sh bench      # pretraining throughput per method (python -m avlib benchmark)
#   ./run.sh real       # the real-data benchmarks (dvc repro real/dvc.yaml; size in params/real.yaml)
#   ./run.sh xdc        # the XDC stages alone (dvc repro xdc_claims and what it needs; `./run.sh` runs them too)
#   ./run.sh lab        # JupyterLab on notebooks/
#   ./run.sh <cmd ...>  # any command inside the venv, e.g. ./run.sh dvc repro xkd_tab01_kd_effect
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${AVLIB_VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac  # AVLIB_VENV may be absolute or relative
export DVC_NO_ANALYTICS=1 PYTHONDONTWRITEBYTECODE=1

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[avlib] creating $VENV with $($PY --version)"
    "$PY" -m venv "$VENV"
  fi
  local want have
  want=$(cat pyproject.toml requirements/cpu-lock.txt | sha256sum | cut -c1-32)
  have=$(cat "$VENV/.avlib-installed" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    echo "[avlib] installing pinned packages into $VENV (first time: a few minutes)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -c requirements/cpu-lock.txt -e ".[faiss,pipeline,notebooks,dev,real]"
    echo "$want" > "$VENV/.avlib-installed"
  fi
  export PATH="$VENV/bin:$PATH"
}

setup
case "${1:-repro}" in
  repro) shift || true; exec dvc repro "$@" ;;
  test)  shift  # lint and format check first (pyproject.toml [tool.ruff]), then the suite
         python -m ruff check --quiet . && python -m ruff format --check --quiet . \
           || { echo "[avlib] ruff found problems: run ./run.sh ruff check --fix . && ./run.sh ruff format ." >&2; exit 1; }
         exec python -m pytest -p no:cacheprovider "$@" ;;
  bench) shift; exec python -m avlib benchmark "$@" ;;
  real)  shift; exec dvc repro real/dvc.yaml "$@" ;;
  xdc)   shift; exec dvc repro xdc_claims "$@" ;;
  lab)   shift; exec jupyter lab notebooks/ "$@" ;;
  *)     exec "$@" ;;
esac
