#!/usr/bin/env bash
# Benchmarks, by hand (not CI). Builds the release binary and prints, side by side:
#  (a) a fresh `all` against the fake cluster, releases taking realistic (scaled) times,
#      divided by the critical path of the step graph under the same step durations (goal ≤ 1.10);
#  (b) a healthy re-run (AUTO_SKIP_HEALTHY=true all)                          (goal ≤ 1 s);
#  (c) infrastructure-verify against a seeded moto account vs the same checks as one aws
#      CLI process per call, as the original script makes them              (goal ≥ 50×);
#  (d) `list` median and the release binary's size                   (goals ≤ 20 ms, ≤ 40 MB).
# Record the figures in docs/benchmarks.md with the machine they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."

# The test tools (venvs, helm) as scripts/test.sh installs them, plus the aws CLI.
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
scripts/install-helm.sh >/dev/null
if [ ! -x .venv-bench/bin/aws ] || ! cmp -s tests/requirements-bench.txt .venv-bench/.installed; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet --disable-pip-version-check -r tests/requirements-bench.txt
  cp tests/requirements-bench.txt .venv-bench/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
export DEPLOYCTL_TEST_HELM="$PWD/.tools/bin/helm"
export DEPLOYCTL_BENCH_AWS="$PWD/.venv-bench/bin/aws"

cargo build --release --locked
bin="$PWD/target/release/deployctl"
export DEPLOYCTL_BENCH_BIN="$bin"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cargo test --locked --no-fail-fast --features test-fakes --test suite -- \
  --ignored --nocapture --test-threads=1 bench 2>&1 | tee "$out" | grep -E '^BENCH|test result|panicked' -A2 >&2 || true

# (d) `list`: 21 runs, the median; the binary's size.
list_ms="$(python3 - "$bin" <<'PY'
import statistics, subprocess, sys, time
t = []
for _ in range(21):
    s = time.perf_counter()
    subprocess.run([sys.argv[1], "list"], stdout=subprocess.DEVNULL, check=True)
    t.append((time.perf_counter() - s) * 1000)
print(f"{statistics.median(t):.1f}")
PY
)"
size_mb="$(python3 -c "import os,sys; print(f'{os.path.getsize(sys.argv[1])/1e6:.1f}')" "$bin")"

field() { grep -E "^BENCH $1 " "$out" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
printf '%-44s %-28s %s\n' "benchmark" "result" "goal"
printf '%-44s %-28s %s\n' "(a) fresh all / critical path" "$(field fresh_all ratio) ($(field fresh_all wall_ms) ms / $(field fresh_all critical_path_ms) ms)" "≤ 1.10"
printf '%-44s %-28s %s\n' "(b) healthy re-run (median)" "$(field healthy_rerun median_ms) ms" "≤ 1000 ms"
printf '%-44s %-28s %s\n' "(c) infrastructure-verify vs aws CLI calls" "$(field infra_verify speedup)× ($(field infra_verify ours_ms) ms vs $(field infra_verify cli_ms) ms, $(field infra_verify calls) calls)" "≥ 50×"
printf '%-44s %-28s %s\n' "(d) list (median of 21)" "$list_ms ms" "≤ 20 ms"
printf '%-44s %-28s %s\n' "(d) release binary size" "$size_mb MB" "≤ 40 MB"
