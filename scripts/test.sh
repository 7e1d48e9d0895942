#!/usr/bin/env bash
# `make test`: every test Causeway has, in order, with a summary at the end. The
# swift-otel step builds the separate Benchmarks/ package (swift-otel included) the first
# time, which takes minutes.
# A failed step does not hide the others' results; only steps that cannot run without an
# earlier one (everything after a failed install or build) are skipped. Exits non-zero
# when any step failed or was skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

names=()
results=()
times=()

step() {
    local name=$1
    shift
    echo
    echo "==> $name: $*"
    local start=$SECONDS
    if "$@"; then
        results+=(passed)
    else
        results+=(FAILED)
    fi
    names+=("$name")
    times+=($((SECONDS - start)))
    [[ ${results[-1]} == passed ]]
}

skip() {
    names+=("$1")
    results+=(skipped)
    times+=(0)
}

make_step() { make --no-print-directory "$@"; }

if step deps make_step deps-test; then
    venv_ready=false
    step venv make_step venv && venv_ready=true
    if step build make_step build; then
        step "swift test" make_step unit
        if $venv_ready; then step interop make_step interop; else skip interop; fi
        step kafka-python-2 make_step interop-kafka-python-2
        step swift-otel make_step interop-swift-otel
    else
        skip "swift test"
        skip interop
        skip kafka-python-2
        skip swift-otel
    fi
    step fuzz make_step fuzz
else
    for name in venv build "swift test" interop kafka-python-2 swift-otel fuzz; do skip "$name"; done
fi

passed=0
failed=0
echo
echo "==> summary"
for i in "${!names[@]}"; do
    printf '  %-12s %-8s %4ss\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    if [[ ${results[$i]} == passed ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "steps: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
