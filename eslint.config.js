import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
      'no-misleading-character-class': 'off',
    },
  },
  {
    // The layer rules from DESIGN.md: lib imports neither side, the container side never imports the host side.
    // lib/ is the pure core: no sockets, files, TLS, HTTP or processes.
    files: ['lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...['net', 'fs', 'fs/promises', 'tls', 'http', 'https', 'http2', 'child_process', 'dgram'].flatMap((m) =>
              [m, `node:${m}`].map((name) => ({ name, message: 'lib/ is pure: no I/O (host-services/ owns it).' })),
            ),
          ],
          patterns: ['**/host-services/**', '**/mcp-tools/**', 'node-forge', '@modelcontextprotocol/*'],
        },
      ],
    },
  },
  {
    files: ['mcp-tools/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/host-services/**', 'node-forge', 'undici', 'ws'] }],
    },
  },
);
