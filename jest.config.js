// One jest run for the whole monorepo. TypeScript is compiled by SWC as ES
// modules (run with --experimental-vm-modules, see scripts/run.sh); workspace
// packages resolve to their TypeScript sources so tests never need a build.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/accounts-manager', '<rootDir>/advances', '<rootDir>/service-kit', '<rootDir>/test'],
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  moduleNameMapper: {
    '^@alfabet/proto/(accounts|advances)/v1$': '<rootDir>/proto/gen/alfabet/$1/v1/$1.ts',
    '^@alfabet/proto/([a-z-]+)$': '<rootDir>/proto/src/$1.ts',
    '^@alfabet/service-kit/([a-z-]+)$': '<rootDir>/service-kit/src/$1.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  globalSetup: '<rootDir>/test-support/global-setup.ts',
  testTimeout: 60_000,
  // Integration tests share one PostgreSQL; two workers suit the 2-core machines.
  maxWorkers: 2,
};
