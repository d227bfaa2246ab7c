// ESLint (flat config): a few rules that catch real bugs in this code base, and
// the one rule of shape STYLE.md asks for — short functions with one job.
// Formatting is not linted here: Prettier lays the code out (.prettierrc.json, npm run format:check).
import tseslint from 'typescript-eslint';

// A function longer than this does more than one job: split it, do not disable.
const FUNCTION_LINES_MAX = 70;

export default tseslint.config(
  {
    // Generated and built code, installed packages, the local toolchain.
    ignores: ['proto/gen/**', '**/dist/**', '**/node_modules/**', '.tools/**', 'coverage/**', '.data/**'],
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        // Type information for no-floating-promises: the workspaces' own tsconfigs,
        // and the tests' (which type-checks every test file).
        project: [
          './proto/tsconfig.json',
          './service-kit/tsconfig.json',
          './accounts-manager/tsconfig.json',
          './advances/tsconfig.json',
          './tsconfig.tests.json',
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // A promise nobody awaits loses its error: a failed ledger call or a DB write
      // would vanish without a log line. Await it, return it, or `void` it on purpose.
      '@typescript-eslint/no-floating-promises': 'error',
      // An unused binding is usually a forgotten call or a half-finished refactor.
      // A leading underscore marks a parameter that a signature requires but this code does not need.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `==` coerces: 0 == "" and null == undefined hide wrong-type bugs in money code.
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', ecmaVersion: 2024 },
    rules: {
      'no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Source code (the services, the shared kit, the bench and the scripts): one job per function.
    files: ['*/src/**/*.ts', 'bench/**/*.mjs', 'scripts/**/*.mjs'],
    rules: {
      'max-lines-per-function': [
        'error',
        { max: FUNCTION_LINES_MAX, skipBlankLines: true, skipComments: true, IIFEs: true },
      ],
    },
  },
  // Tests are exempt from the length rule: a jest test(...) callback is a whole
  // scenario (arrange, act, assert) and describe(...) callbacks hold many of them;
  // splitting them would scatter one story across helpers without making any job clearer.
);
