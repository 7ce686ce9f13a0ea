#!/usr/bin/env bash
# Regenerate every lock file with uv (the pinned uv in .venv; `make lock` runs this).
#   locks/test.txt         the main test environment (`make test`): the newest Airflow, test + bench extras
#   locks/runtime.txt      `make demo`: the package's runtime dependencies alone
#   locks/airflow-X.Y.txt  one per supported Airflow line (`make compat`): that Airflow release
#                          (pinned in locks/airflow-X.Y.in), the runtime dependencies, the compat extra,
#                          resolved with the packages published up to a week after that release (its
#                          `exclude-newer` line), as Airflow's own constraint files of that release
#                          would be: a 3.0 deployment does not run next year's pydantic or cadwyn.
#                          Only what this package needs newer than that day are exempt: common-compat
#                          1.23+ (and its asgiref), fastcrc 0.4+ (nothing in Airflow pins either).
# Run it after changing a dependency in pyproject.toml or to move to newer releases; commit the result
# with the matrix green (`make compat`).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
compile() { "$UV" pip compile -q --universal --python-version 3.11 --no-header --annotation-style line "$@"; }
compile pyproject.toml --extra test --extra bench -o locks/test.txt
compile pyproject.toml -o locks/runtime.txt
NEWER_ALLOWED=(apache-airflow-providers-common-compat asgiref fastcrc)
for pin in locks/airflow-*.in; do
    cutoff=$(sed -n 's/^# exclude-newer: \([0-9-]*\).*/\1/p' "$pin")
    overrides=()
    for name in "${NEWER_ALLOWED[@]}"; do overrides+=(--exclude-newer-package "$name=$(date -u +%F)"); done
    compile --exclude-newer "$cutoff" "${overrides[@]}" pyproject.toml --extra compat "$pin" \
        -o "${pin%.in}.txt"
done
echo "locks: $(ls locks/*.txt | tr '\n' ' ')"
