#!/usr/bin/env bash
# Set up (a .venv beside this repo), check the import contracts and ruff, then run
# every test, the real-model ones included.
# Extra arguments go to pytest. Exit 5 ("no tests ran") counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv || exit 1
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]' || { echo "install failed" >&2; exit 1; }
# The import contracts (engine <- serve <- wood_tui, pyproject's [tool.importlinter])
# and ruff's bug-catching rules come first: either failing fails the run.
.venv/bin/lint-imports --no-cache --no-logo || { echo "an import contract is broken (see above)" >&2; exit 1; }
.venv/bin/ruff check --no-cache . || { echo "ruff found problems (see above)" >&2; exit 1; }
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
