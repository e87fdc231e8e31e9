import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'apps/console/vite.config.mts', 'apps/terraform-provider/rolldown.config.mjs', 'libs/sdk/src/schema.d.ts', 'openapi/**', 'coverage/**', 'scripts/**', '*.js', '*.mjs', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  // Dependency arrows the design forbids (DESIGN.md "Layout"): the planner is pure (no
  // persistence), persistence holds SQL and not the host document's contract, and the api reaches
  // allocation only through the planner. Relative paths into another lib are caught too.
  ...[
    { files: ['libs/planner/**/*.ts'], lib: 'persistence', why: 'libs/planner is pure: it takes what persistence reads as plain data (see PlanReads)' },
    { files: ['libs/persistence/**/*.ts'], lib: 'contracts', why: 'libs/persistence holds SQL; the host document and its builder live in libs/contracts' },
    { files: ['apps/api/**/*.ts'], lib: 'allocator', why: 'the api reaches the allocator through libs/planner' },
  ].map(({ files, lib, why }) => ({
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: [`@natplane/${lib}`, `@natplane/${lib}/*`, `**/libs/${lib}/**`, `**/${lib}/src`, `**/${lib}/src/**`], message: why }] }],
    },
  })),
);
