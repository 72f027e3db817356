#!/usr/bin/env bash
# make fuzz [FUZZTIME=30s]: every fuzz target of the tree, one after the
# other, for FUZZTIME each; prints the execs of each and fails on the first
# failure (its input is kept in the package's testdata/fuzz). The seed
# corpora run in make test as ordinary tests.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
fail=0
for f in $(grep -l '^func Fuzz' $(git ls-files --cached --others --exclude-standard '*_test.go')); do
  pkg=./$(dirname "$f")
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
    if out=$(go test -run='^$' -fuzz="^$target\$" -fuzztime="$time" "$pkg" 2>&1); then
      execs=$(echo "$out" | grep -o 'execs: [0-9]*' | tail -1)
      printf '%-40s %-22s %s\n' "$pkg" "$target" "${execs:-no execs reported}"
    else
      printf '%-40s %-22s FAILED\n%s\n' "$pkg" "$target" "$out"
      fail=1
    fi
  done
done
exit $fail
