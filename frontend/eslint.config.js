import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const features = ['auth', 'patients', 'case-history', 'uploads', 'batches', 'models'];

export default tseslint.config(
  { ignores: ['dist', 'node_modules', 'test-results', 'src/lib/api-schema.d.ts'] },
  {
    files: ['**/*.{ts,tsx}'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { globals: globals.browser },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // Features stay independent so each can be read alone; app/ is where they meet.
  ...features.map((feature) => ({
    files: [`src/features/${feature}/**/*.{ts,tsx}`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: features.filter((f) => f !== feature).map((f) => `@/features/${f}/*`),
              message: 'Features must not import each other; compose them in src/app.',
            },
            { group: ['@/app/*'], message: 'Features must not depend on the app layer.' },
          ],
        },
      ],
    },
  })),
  {
    files: ['e2e/**/*.mjs', 'scripts/**/*.mjs', '*.config.{js,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
