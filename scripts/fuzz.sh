#!/usr/bin/env bash
# `make fuzz`: builds each libFuzzer target with AddressSanitizer and runs it for
# FUZZ_SECONDS, starting from the checked-in seed corpus. New corpus entries and crash
# inputs go to fuzz-artifacts/<target>/ (ignored by git). A crash, a timeout (an input
# taking over 10 s), an out-of-memory (over 2 GiB), or a sanitizer report fails the step.
set -euo pipefail
cd "$(dirname "$0")/.."

swift=${SWIFT:-swift}
seconds=${FUZZ_SECONDS:-60}
scratch=${FUZZ_SCRATCH:-.build-fuzz}
read -r -a targets <<< "${FUZZ_TARGETS:-TelemetryFuzzProtobuf TelemetryFuzzJSON KafkaWireFuzzRequest}"

for target in "${targets[@]}"; do
    echo "fuzz: building $target"
    # -sanitize=fuzzer links libFuzzer; the target's `<module>_main` starts its driver.
    # ld.gold warns that it cannot export ASan's local symbols; harmless, so filtered.
    "$swift" build --scratch-path "$scratch" --product "$target" -c debug \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DCAUSEWAY_FUZZ 2>&1 \
        | { grep -v "Cannot export local symbol" || true; }
done

status=0
for target in "${targets[@]}"; do
    out=fuzz-artifacts/$target
    mkdir -p "$out/corpus"
    seeds=Tests/Fuzz/corpus/$target
    if [[ ! -d $seeds ]]; then
        echo "fuzz: missing seed corpus $seeds" >&2
        exit 1
    fi
    echo "fuzz: running $target for ${seconds}s (log: $out/fuzz.log)"
    # Swift's own crash backtracer trips AddressSanitizer; libFuzzer reports crashes itself.
    if SWIFT_BACKTRACE=enable=no "$scratch/debug/$target" "$out/corpus" "$seeds" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$out/" -print_final_stats=1 > "$out/fuzz.log" 2>&1; then
        runs=$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$out/fuzz.log" | tail -1 || true)
        echo "fuzz: $target passed: ${runs:-done}, corpus $(ls "$out/corpus" | wc -l) inputs"
    else
        status=1
        echo "fuzz: $target FAILED; the end of its log:" >&2
        tail -n 60 "$out/fuzz.log" >&2
        echo "fuzz: inputs that failed: $(ls "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-* 2>/dev/null | tr '\n' ' ')" >&2
    fi
done
exit $status
