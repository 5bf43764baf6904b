#!/usr/bin/env bash
# Create .venv with everything the project needs, once; later calls return at once.
# The environment is rebuilt when pyproject.toml changes (its hash is stamped into the venv).
#   CELLCLR_PYTHON      the interpreter to build the venv with (default: python3)
#   CELLCLR_TORCH_SPEC  the torch requirement (default pins the build this project is tested with)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
python=${CELLCLR_PYTHON:-python3}
torch_spec=${CELLCLR_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
stamp="$venv/.cellclr-stamp"
want="$(sha256sum pyproject.toml | cut -c1-16) $torch_spec"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "bootstrap: creating $venv (torch: $torch_spec) ..."
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# torch first and pinned: any looser spec can pull a multi-GB CUDA build.
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install -q $torch_spec
"$venv/bin/python" -m pip install -q -e ".[notebooks,book,dev]"
# papermill looks kernels up by name; register the venv's interpreter as its python3 kernel.
"$venv/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cellclr)" >/dev/null
echo "$want" > "$stamp"
echo "bootstrap: done"
