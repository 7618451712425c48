#!/usr/bin/env bash
# Install the pinned Claude Code CLI for tests/test_tmux_claude.py, into .ci/node
# (not global). 2.1.197 is what a bare install picks on Node 20 (newer releases
# declare Node 22); pinned because versions differ in model ids and title behaviour.
set -euo pipefail
cd "$(dirname "$0")"
VERSION="${CLAUDE_CODE_VERSION:-2.1.197}"
if [ -x node/node_modules/.bin/claude ] && node/node_modules/.bin/claude --version 2>/dev/null | grep -q "^$VERSION"; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm not found: cannot install Claude Code"; exit 1; }
mkdir -p node
npm install --prefix node --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$VERSION"
node/node_modules/.bin/claude --version
