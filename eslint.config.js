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
    files: ['lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/host-services/**',
            '**/mcp-tools/**',
            'http-mitm-proxy',
            'node-forge',
            '@modelcontextprotocol/*',
          ],
        },
      ],
    },
  },
  {
    files: ['mcp-tools/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/host-services/**', 'http-mitm-proxy', 'node-forge'] }],
    },
  },
);
