#!/usr/bin/env bash
# Installs the pinned Claude Code build used by the end-to-end tests into <repo>/.e2e/claude-code,
# a private npm prefix that never touches the project's own package.json or lockfile.
# Idempotent: does nothing when the pinned version is already installed and runs.
#
# usage: bash scripts/install-claude-code.sh
# env:   CLAUDE_CODE_VERSION  version to install (default: the pinned one below)
set -euo pipefail

VERSION="${CLAUDE_CODE_VERSION:-2.1.329}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$REPO/.e2e/claude-code"
BIN="$PREFIX/node_modules/.bin/claude"

installed_version() {
  [ -x "$BIN" ] || return 1
  "$BIN" --version 2>/dev/null | head -n 1
}

if v="$(installed_version)" && [[ "$v" == "$VERSION"* ]]; then
  echo "Claude Code $VERSION already installed: $BIN"
  exit 0
fi

mkdir -p "$PREFIX"
# A package.json of its own makes the prefix a self-contained npm project. Its allowScripts entry
# approves the package's postinstall (it links the platform's native binary) for npm versions
# that gate install scripts; older npm versions ignore the field and run the script anyway.
cat >"$PREFIX/package.json" <<JSON
{
  "name": "claude-code-e2e",
  "private": true,
  "description": "Pinned Claude Code for the end-to-end tests (not part of the product).",
  "allowScripts": {
    "@anthropic-ai/claude-code": true
  }
}
JSON

echo "Installing @anthropic-ai/claude-code@$VERSION into $PREFIX"
npm install \
  --prefix "$PREFIX" \
  --no-save \
  --no-package-lock \
  --no-audit \
  --no-fund \
  --include=optional \
  --foreground-scripts \
  --loglevel=warn \
  "@anthropic-ai/claude-code@$VERSION" </dev/null

if ! v="$(installed_version)"; then
  echo "error: $BIN does not run after install" >&2
  echo "hint: the native binary comes from an optional dependency (@anthropic-ai/claude-code-<os>-<arch>)" >&2
  echo "      and is linked by the package's postinstall; check that optional dependencies and install" >&2
  echo "      scripts are not disabled in your npm config (omit=optional, ignore-scripts=true)." >&2
  exit 1
fi
if [[ "$v" != "$VERSION"* ]]; then
  echo "error: expected Claude Code $VERSION, $BIN reports: $v" >&2
  exit 1
fi
echo "Installed: $v ($BIN)"
