#!/usr/bin/env bash
# The one entry point behind the npm scripts: makes the toolchain and the
# dependencies ready (idempotent, quick when already done), then runs the task
# with Node 24 — whatever Node the machine's npm itself runs on.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Every test runs on `npm test`, the Web UI browser test included.
if [ "${1:-}" = test ]; then export ALFABET_NEED_BROWSER=1; fi
. scripts/toolchain.sh

# Dependencies: npm ci when the lockfile changed since the last install.
stamp="node_modules/.alfabet-lock-stamp"
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "[run] installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# The advances worker loads its workflow code from the bundle the last step writes (advances/src/temporal/workflow-code.ts).
build() {
  npx --no-install tsc -b proto service-kit accounts-manager advances
  node advances/dist/src/cli/bundle-workflows.js >/dev/null
}
# The tests are type-checked too (not emitted: jest compiles them itself).
typecheck_tests() { npx --no-install tsc -p tsconfig.tests.json; }

task="${1:-}"; shift || true
case "$task" in
  test)
    # Build first: it type-checks everything, and the CLI tests run the built code.
    build
    typecheck_tests
    # jest runs TypeScript as ES modules; --json feeds .ci/run's count line.
    export NODE_OPTIONS="--experimental-vm-modules --disable-warning=ExperimentalWarning ${NODE_OPTIONS:-}"
    exec npx --no-install jest "$@"
    ;;
  build)
    build
    typecheck_tests
    ;;
  typecheck)
    build
    typecheck_tests
    ;;
  lint)
    # Biome (biome.jsonc): the layout (as format-check) and the lint rules — functions of at most
    # 70 lines in the sources, a few correctness rules everywhere. Reads the sources, needs no build.
    npx --no-install biome check --error-on-warnings "$@" . || exit 1
    # Biome counts only the lines that hold code; TIGER_STYLE's 70 counts every physical line.
    exec node scripts/check-function-length.mjs
    ;;
  format-check)
    # Biome's formatter (biome.jsonc): fails on any file not laid out as it would.
    exec npx --no-install biome format "$@" .
    ;;
  format)
    # Rewrites the files Biome would lay out differently (the fix for a failing format-check).
    exec npx --no-install biome format --write "$@" .
    ;;
  lint-deps)
    # The one-way layers of DESIGN.md §2 (.dependency-cruiser.cjs), then raw SQL only in *.sql.ts
    # files (scripts/check-raw-sql.mjs; docs/schema.md): both read the sources, need no build.
    npx --no-install depcruise --config .dependency-cruiser.cjs proto/src proto/gen service-kit/src accounts-manager/src advances/src || exit 1
    exec node scripts/check-raw-sql.mjs
    ;;
  proto-generate)
    npx --no-install buf generate
    # The compiled contracts server reflection serves (see service-kit/src/grpc-server.ts).
    npx --no-install buf build -o proto/descriptors.binpb
    ;;
  proto-lint)
    npx --no-install buf lint
    ;;
  migration-check)
    # Each service's migrations, run on a scratch database, must leave exactly what its entities describe
    # (service-kit/src/migration-tools.ts; docs/schema.md). Prints the SQL of any difference and fails.
    build
    status=0
    for workspace in accounts-manager advances; do node "$workspace/dist/src/cli/migrations.js" check || status=1; done
    exit "$status"
    ;;
  migration-create)
    # migration-create <accounts-manager|advances> <snake_case_name>: the next migration, generated
    # from the entity changes, written to <workspace>/src/db/migrations/ (docs/schema.md).
    workspace="${1:-}"; name="${2:-}"
    case "$workspace" in accounts-manager|advances) ;; *)
      echo "usage: npm run migration:create -- <accounts-manager|advances> <snake_case_name>" >&2; exit 2 ;;
    esac
    build
    exec node "$workspace/dist/src/cli/migrations.js" create "$name"
    ;;
  node-script)
    # node-script <workspace> <src/file.ts> [args…]: runs the built JS of a source file.
    workspace="$1" file="$2"; shift 2
    build
    exec node "$workspace/dist/${file%.ts}.js" "$@"
    ;;
  start)
    build
    exec node scripts/stack.mjs
    ;;
  demo)
    build
    exec node scripts/demo.mjs
    ;;
  bench)
    build
    exec node bench/bench.mjs "$@"
    ;;
  *)
    echo "usage: scripts/run.sh test|build|typecheck|lint|format-check|format|lint-deps|migration-check|migration-create|proto-generate|proto-lint|node-script|start|demo|bench" >&2
    exit 2
    ;;
esac
