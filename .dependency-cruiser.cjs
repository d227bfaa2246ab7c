// The import direction of DESIGN.md §2, checked on every change (`npm run lint:deps`,
// a step of .ci/run). Paths are relative to the repository root; workspace packages
// (@alfabet/proto, @alfabet/service-kit) resolve to their TypeScript sources, as in jest.
//
// Inside a service, imports run one way:
//   transport (accounts-manager/src/grpc/, advances/src/api/; entries app.ts, api-app.ts)
//     → domain (accounts-manager: ledger/, reports/; advances: domain/, workflows/,
//               activities/, reconciliation/, ledger/, temporal/)
//     → persistence (db/)
// and between packages: services → service-kit → proto, never back.
const TRANSPORT = '^(accounts-manager/src/grpc/|advances/src/api/)';
const SERVICE_SRC = '^(accounts-manager|advances)/src/';
const DB = '^(accounts-manager|advances)/src/db/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A cycle has no bottom layer: neither module can be read, tested or moved without the other, ' +
        'and ES module cycles see half-initialised bindings at start-up.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'An import the checker cannot resolve is an import no rule can judge: fix the path ' +
        '(or this config\'s aliases) rather than let it pass unchecked.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'proto-imports-nothing-of-ours',
      severity: 'error',
      comment:
        'proto/ is the contract other teams import: the .proto files, the generated code and where the ' +
        '.proto files lie. It must stay importable without either service or the service plumbing.',
      from: { path: '^proto/' },
      to: { path: '^(service-kit|accounts-manager|advances)/' },
    },
    {
      name: 'service-kit-imports-no-service',
      severity: 'error',
      comment:
        'service-kit is the plumbing both services share; importing one of them would make the other ' +
        'depend on it, and the kit would stop being shared.',
      from: { path: '^service-kit/' },
      to: { path: '^(accounts-manager|advances)/' },
    },
    {
      name: 'services-do-not-import-each-other',
      severity: 'error',
      comment:
        'accounts-manager and advances are separate services deployed in separate images; they talk only ' +
        'through the gRPC contract in proto/, so neither may import the other\'s code.',
      from: { path: '^(accounts-manager|advances)/' },
      to: { path: '^(accounts-manager|advances)/', pathNot: '^$1/' },
    },
    {
      name: 'persistence-not-to-transport',
      severity: 'error',
      comment:
        'DESIGN §2: transport → domain → persistence. db/ is the bottom layer: it must not import the ' +
        'gRPC handlers (grpc/, api/) or the entries that wire them.',
      from: { path: DB },
      to: { path: `${TRANSPORT}|^accounts-manager/src/(app|main)\\.ts$|^advances/src/(api-app|main-api)\\.ts$` },
    },
    {
      name: 'persistence-not-to-workflows',
      severity: 'error',
      comment:
        'DESIGN §2: persistence never imports workflows. db/ is below the Temporal code: workflows/, ' +
        'activities/, temporal/ and the worker entries use the store, never the other way; the types they ' +
        'share live in advances/src/domain/.',
      from: { path: DB },
      to: { path: '^advances/src/(workflows|activities|temporal)/|^advances/src/(worker-app|main-worker)\\.ts$' },
    },
    {
      name: 'persistence-throws-no-transport-errors',
      severity: 'error',
      comment:
        'DESIGN §2: persistence never throws transport errors. The kit\'s caller-facing errors (FieldError ' +
        'and its gRPC mapping), grpc-js and the generated messages belong to the layers above; the store ' +
        'returns what happened and the caller decides the answer.',
      from: { path: DB },
      to: {
        path: [
          '^service-kit/src/(field-error|field-validation|service-errors|grpc-server|grpc-observability|authorization|call-guards|undecodable-requests)\\.ts$',
          '(^|/)node_modules/@grpc/',
          '^proto/gen/',
        ],
      },
    },
    {
      name: 'only-transport-imports-transport',
      severity: 'error',
      comment:
        'Transport is the top layer: the gRPC handlers are wired by the entries (app.ts, api-app.ts) and ' +
        'import the domain; nothing below them imports a handler or its proto mapping.',
      from: { path: SERVICE_SRC, pathNot: `${TRANSPORT}|^accounts-manager/src/app\\.ts$|^advances/src/api-app\\.ts$` },
      to: { path: TRANSPORT },
    },
    {
      name: 'grpc-js-only-in-transport',
      severity: 'error',
      comment:
        'DESIGN §2: the domain never imports grpc-js. Allowed outside grpc/ and api/: ' +
        'advances/src/ledger/ledger-client.ts (the outbound gRPC client of the ledger: it is transport, ' +
        'turned the other way) and advances/src/temporal/advance-workflows.ts (reads the gRPC status code ' +
        'of the errors the Temporal client wraps). A new one is either transport and goes to grpc/ or ' +
        'api/, or is added here with its reason.',
      from: {
        path: SERVICE_SRC,
        pathNot: `${TRANSPORT}|^advances/src/ledger/ledger-client\\.ts$|^advances/src/temporal/advance-workflows\\.ts$`,
      },
      to: { path: '(^|/)node_modules/@grpc/grpc-js/' },
    },
    {
      name: 'workflows-import-only-workflow-safe-modules',
      severity: 'error',
      comment:
        'Workflow code runs in Temporal\'s deterministic sandbox, bundled on its own: no node built-ins, no ' +
        'pg, no grpc-js, no db/, no activity code. At run time it may import only other workflow code, the ' +
        'pure domain/ modules and @temporalio/workflow|common; activities come in as types only ' +
        '(proxyActivities<typeof activities>), which the bundle erases.',
      from: { path: '^advances/src/workflows/' },
      to: {
        pathNot: '^advances/src/(workflows|domain)/|(^|/)node_modules/@temporalio/(workflow|common)/',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'workflows-import-no-node-builtins',
      severity: 'error',
      comment:
        'Not even as types: a node built-in in workflow code is a sign of I/O or a clock that the sandbox ' +
        'would replace or refuse.',
      from: { path: '^advances/src/workflows/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'domain-module-is-pure',
      severity: 'error',
      comment:
        'advances/src/domain/ holds the rules and types every layer shares, the workflow included: it ' +
        'imports nothing but itself (no I/O, no SDK, no node built-ins), so anything may import it and it ' +
        'can always enter the workflow bundle.',
      from: { path: '^advances/src/domain/' },
      to: { pathNot: '^advances/src/domain/' },
    },
    {
      name: 'advances-entries-apart',
      severity: 'error',
      comment:
        'The API process and the worker process start from their own entries; importing one from the ' +
        'other would start (or at least load) the other process\'s wiring. What both need ' +
        '(openAdvancesDatabase, the config) lives below them.',
      from: { path: '^advances/src/(worker-app|main-worker)\\.ts$' },
      to: { path: '^advances/src/(api-app|main-api)\\.ts$' },
    },
    {
      name: 'advances-entries-apart-reverse',
      severity: 'error',
      comment: 'The same, the other way: the API entry does not import the worker\'s.',
      from: { path: '^advances/src/(api-app|main-api)\\.ts$' },
      to: { path: '^advances/src/(worker-app|main-worker)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Built output is not source: only the TypeScript is checked.
    exclude: { path: '^(proto|service-kit|accounts-manager|advances)/dist/' },
    // Type-only imports are dependencies too (they break layers just as well); rules that only
    // care about run time (the workflow sandbox) say so with dependencyTypesNot: ['type-only'].
    tsPreCompilationDeps: true,
    // Resolution as TypeScript does it, with tsconfig.depcruise.json's `paths`: the workspace
    // packages (@alfabet/proto, @alfabet/service-kit) resolve to their sources, not to dist/.
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
