import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The agent's layers, lowest first. A module imports from its own layer and the layers below,
// never from one above: facts enter at the sources, are decided in the pure core and leave
// through the outputs (README "Contributing" draws it). Entries are folders under agent/, or
// files at agent/'s top.
const LAYERS = [
  {
    name: 'foundation',
    parts: [
      'brand.ts',
      'result.ts',
      'memo.ts',
      'lru.ts',
      'same-elements.ts',
      'version.ts',
      'log.ts',
      'backoff.ts',
      'settings.ts',
      'node-http.ts',
      'code-unit-order.ts',
    ],
  },
  { name: 'model', parts: ['model', 'image'] },
  { name: 'pure logic', parts: ['credentials', 'detect', 'admission'] },
  {
    name: 'sources',
    parts: ['cri', 'kube', 'registry', 'provenance', 'findings', 'broker', 'kubelet-config'],
  },
  { name: 'core', parts: ['core', 'view.ts'] },
  { name: 'outputs', parts: ['http', 'metrics', 'reports', 'events', 'controller'] },
  { name: 'entry points', parts: ['cli', 'cli.ts', 'main.ts', 'config.ts'] },
];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const isFile = (part) => part.endsWith('.ts');
/**
 * Matches an import of `part` from a module under agent/: a folder anywhere in the path, a
 * top-level file by its relative path ('../main.ts' from a folder, './main.ts' from the top).
 */
const importOf = (part, fromTop) =>
  isFile(part)
    ? fromTop
      ? `^\\./${escape(part)}$`
      : `^(\\.\\./)+${escape(part)}$`
    : `(^|/)${escape(part)}/`;

const layerRules = LAYERS.slice(0, -1)
  .flatMap((layer, index) =>
    [false, true].map((fromTop) => ({
      files: layer.parts
        .filter((part) => isFile(part) === fromTop)
        .map((part) => (fromTop ? `agent/${part}` : `agent/${part}/**/*.ts`)),
      ignores: ['**/*.test.ts', '**/*.test-helper.ts'],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              ...LAYERS.slice(index + 1).flatMap((above) =>
                above.parts.map((part) => ({
                  regex: importOf(part, fromTop),
                  message: `${layer.name} (agent/${layer.parts.join(', agent/')}) must not import from ${above.name}: data flows one way (eslint.config.js LAYERS).`,
                })),
              ),
              {
                regex: '(^|/)test/',
                message:
                  'the agent ships without its tests: nothing under agent/ imports from test/.',
              },
            ],
          },
        ],
      },
    })),
  )
  .filter((rule) => rule.files.length > 0);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tap/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    // tap awaits the subtests it is handed; async callbacks without await are its idiom.
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...layerRules,
  {
    // agent/node-http.ts says why: a value import of node:http loads undici into the agent.
    files: ['agent/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.test-helper.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['node:http', 'http'].map((name) => ({
            name,
            allowTypeImports: true,
            message:
              "import { http } from agent/node-http.ts: an ES module's import of node:http loads undici.",
          })),
        },
      ],
    },
  },
  {
    // Detection is a pure function of its inputs: what it remembers lives in the
    // DetectionMemory the loop passes in, never in module state.
    files: ['agent/detect/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "Program > VariableDeclaration[kind='let']",
          message: 'no module-level mutable state in agent/detect: use DetectionMemory.',
        },
        {
          selector:
            'Program > VariableDeclaration > VariableDeclarator > NewExpression[callee.name=/^(Map|Set|WeakMap|WeakSet|GenerationalMemo|LruCache)$/]',
          message: 'no module-level mutable state in agent/detect: use DetectionMemory.',
        },
      ],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
