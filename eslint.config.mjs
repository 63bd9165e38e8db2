import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Who may import whom (docs/DESIGN.md, "What lives where"): `shared` and `config` hold plain
 * types and rules; `clients` owns every connection; `activities` and `populator` are peers
 * above the clients; entry points (`workers`, `cli`) sit on top. Built-in rule rather than a
 * plugin: the folders are few and the rule is just "these folders, not those".
 */
const room = (name) => [`**/${name}`, `**/${name}/**`];
const importBoundary = (files, forbidden, why) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: [{ group: forbidden.flatMap(room), message: why }] }],
  },
});
const ENTRY_POINTS = ['workers', 'cli', 'stack', 'bench'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', __dirname: 'readonly' },
    },
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'fs',
                'node:*',
                'crypto',
                'http',
                'https',
                '@aws-sdk/*',
                'kafkajs',
                'prom-client',
                '../activities',
                '../activities/*',
                '../clients',
                '../clients/*',
                '../metrics',
                '../metrics/*',
              ],
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  importBoundary(
    ['shared/**/*.ts'],
    ['clients', 'config', 'metrics', 'activities', 'populator', 'workflows', ...ENTRY_POINTS],
    'shared/ holds types and pure helpers every room may use: it imports nothing of the engine',
  ),
  importBoundary(
    ['config/**/*.ts'],
    ['clients', 'metrics', 'activities', 'populator', 'workflows', ...ENTRY_POINTS],
    'config/ validates settings: it may only use shared/',
  ),
  importBoundary(
    ['clients/**/*.ts'],
    ['metrics', 'activities', 'populator', 'workflows', ...ENTRY_POINTS],
    'clients/ owns connections (S3, Kafka, Temporal): it may only use config/ and shared/',
  ),
  importBoundary(
    ['activities/**/*.ts'],
    ['populator', 'workflows', ...ENTRY_POINTS],
    'activities/ sit above clients/: they may use clients/, config/, metrics/ and shared/, never the populator or an entry point',
  ),
  importBoundary(
    ['populator/**/*.ts'],
    ['activities', 'workflows', ...ENTRY_POINTS],
    'populator/ is a peer of activities/: it may use clients/, config/, metrics/ and shared/',
  ),
  importBoundary(
    ['metrics/**/*.ts'],
    ['clients', 'activities', 'populator', 'workflows', ...ENTRY_POINTS],
    'metrics/ holds the Prometheus metrics and their /metrics server: it may only use config/ and shared/',
  ),
  importBoundary(
    ['operations/**/*.ts'],
    ['activities', 'populator', ...ENTRY_POINTS, 'api'],
    'operations/ is what the CLI and the API share: it may use clients/, config/, shared/ and the pure workflow bookkeeping',
  ),
  importBoundary(
    ['api/**/*.ts'],
    ['activities', 'populator', 'workflows', ...ENTRY_POINTS],
    'the API serves operations/ over HTTP: it may use operations/, clients/, config/ and shared/',
  ),
  importBoundary(
    ['cli/**/*.ts'],
    ['activities', 'populator', 'bench'],
    'the CLI reaches S3, Kafka and Temporal through clients/, never through the activities or the populator',
  ),
);
