// Lint rules for the whole workspace, including the module boundaries of ARCHITECTURE.md:
// services import packages, never the reverse; only package entry points are imported;
// only the worker (and the operator CLI) import the network connectors; only each service's
// config module reads process.env; no import cycles.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const deepImport = {
  group: ['@sunset/*/*', '!@sunset/store/testing', '!@sunset/queue/testing', '!@sunset/engine/outbox'],
  message: 'Import a workspace package through its entry point only (e.g. "@sunset/plan").',
};
const serviceImport = {
  group: ['@sunset/api', '@sunset/api/*', '@sunset/worker', '@sunset/worker/*'],
  message: 'Packages never import services: move the shared code into a package.',
};
const networksImport = {
  group: ['@sunset/networks', '@sunset/networks/*', '@sunset/sandboxes', '@sunset/sandboxes/*'],
  message:
    'Only the worker (through packages/engine) and the operator CLI talk to networks, and only tests and the demo start the sandboxes: enqueue a job instead.',
};
const engineWorkerImport = {
  regex: '^@sunset/engine$',
  message:
    'The API never reaches a network: import "@sunset/engine/outbox" (the producer side of the engine).',
};
const outboxToWorker = {
  group: ['../worker', '../worker/**', '../index', '../index.ts', '**/engine/src/worker/**'],
  message:
    "The engine's outbox side never loads its worker side (which reaches every network): move the shared code into outbox/.",
};
const relativeIntoPackage = {
  group: [
    '**/packages/*/src/**',
    '**/services/*/src/**',
    '../../*/src/**',
    '../../../*/src/**',
    '../../../../*/src/**',
  ],
  message: 'Reach another workspace member through its package name, not a relative path.',
};

/**
 * The type-aware rules need each file's TypeScript project: every workspace member's
 * tsconfig.check.json (its sources, tests and scripts; tsconfig.json leaves tests out of the
 * build, so the project service, which reads tsconfig.json, cannot be used), and tests/'s own.
 */
const ROOT = import.meta.dirname;
const typedProjects = ['packages', 'services']
  .flatMap((group) => readdirSync(path.join(ROOT, group)).map((name) => `${group}/${name}`))
  .filter((dir) => existsSync(path.join(ROOT, dir, 'tsconfig.check.json')))
  .map((dir) => ({
    files: [`${dir}/{src,tests,scripts}/**/*.ts`],
    project: `${dir}/tsconfig.check.json`,
  }))
  .concat({ files: ['tests/**/*.ts'], project: 'tests/tsconfig.json' });

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '.tools/**', '.turbo/**', 'config/schema/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2024, sourceType: 'module' },
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      'import-x/no-relative-packages': 'error',
      'import-x/no-duplicates': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [deepImport, relativeIntoPackage] }],
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message:
            'Only a service config module (services/*/src/config.ts, packages/cli/src/config.ts) reads process.env.',
        },
      ],
    },
  },
  {
    files: ['packages/**/*.ts'],
    ignores: ['packages/networks/**', 'packages/cli/**', 'packages/engine/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [deepImport, relativeIntoPackage, serviceImport, networksImport] },
      ],
    },
  },
  {
    // The engine is the worker's logic, kept in a package: it may talk to networks.
    files: ['packages/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [deepImport, relativeIntoPackage, serviceImport] }],
    },
  },
  {
    // The engine's producer side (packages/engine/src/outbox/, the "@sunset/engine/outbox" entry
    // point) is what the API and the CLI's plan commands load: no network, and no worker side.
    files: ['packages/engine/src/outbox/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [deepImport, relativeIntoPackage, serviceImport, networksImport, outboxToWorker] },
      ],
    },
  },
  {
    files: ['packages/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [deepImport, relativeIntoPackage, serviceImport] }],
    },
  },
  {
    files: ['services/api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [deepImport, relativeIntoPackage, networksImport, engineWorkerImport] },
      ],
    },
  },
  {
    files: [
      'services/*/src/config.ts',
      'packages/cli/src/config.ts',
      '**/*.test.ts',
      'packages/*/src/testing/**',
      'tests/**',
      'scripts/**',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // The dashboard's ES modules run in the browser, with no build step: browser globals, and
    // Node's own (process, Buffer, require…) turned off, since globals merge with the block above.
    files: ['services/api/public/**/*.js'],
    languageOptions: {
      globals: {
        ...Object.fromEntries(
          Object.keys(globals.node)
            .filter((name) => !(name in globals.browser))
            .map((name) => [name, 'off']),
        ),
        ...globals.browser,
      },
    },
  },
  {
    // Tool configs extend the shared bases in config/, which is not a package.
    files: ['**/vitest.config.ts', '**/vitest.*.config.ts'],
    rules: { 'import-x/no-relative-packages': 'off', 'no-restricted-imports': 'off' },
  },
  prettier,
  // A promise nobody awaits loses its failure (an unhandled rejection, or a test that passes
  // before its assertion runs): every workspace file, tests included, is checked with its types.
  ...typedProjects.map(({ files, project }) => ({
    files,
    ignores: ['**/vitest.config.ts', '**/vitest.*.config.ts'],
    languageOptions: { parserOptions: { project, tsconfigRootDir: ROOT } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  })),
);
