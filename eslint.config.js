// Lint: TypeScript-aware basics everywhere, plus the determinism rules for the
// simulated world (sim/ and os/): no host time, host randomness, timers,
// promises or async code there (DESIGN.md, "Determinism rules").
import tseslint from 'typescript-eslint';

const nondeterministic = 'is nondeterministic: sim/ and os/ must be reproducible from seed + decisions';

export default tseslint.config(
  { ignores: ['.scratch/**', 'node_modules/**', 'reports/out/**', 'out/**', 'bin/**', '.rugo/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'require-yield': 'off',
    },
  },
  {
    files: ['sim/**/*.ts', 'os/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: `Math.random ${nondeterministic}; use the decision source or a seeded stream` },
        { object: 'Date', property: 'now', message: `Date.now ${nondeterministic}; use simulated cycles` },
        { object: 'performance', property: 'now', message: `performance.now ${nondeterministic}; use simulated cycles` },
        { object: 'crypto', property: 'getRandomValues', message: `crypto randomness ${nondeterministic}` },
        { object: 'crypto', property: 'randomUUID', message: `crypto randomness ${nondeterministic}` },
      ],
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'clearTimeout', 'clearInterval', 'Promise', 'performance', 'WeakMap', 'WeakSet', 'WeakRef', 'FinalizationRegistry'].map((name) => ({
          name,
          message: `${name} ${nondeterministic}`,
        })),
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'FunctionDeclaration[async=true]', message: `async functions ${nondeterministic}` },
        { selector: 'FunctionExpression[async=true]', message: `async functions ${nondeterministic}` },
        { selector: 'ArrowFunctionExpression[async=true]', message: `async functions ${nondeterministic}` },
        { selector: 'AwaitExpression', message: `await ${nondeterministic}` },
        { selector: "NewExpression[callee.name='Date']", message: `new Date() ${nondeterministic}` },
      ],
      'no-restricted-imports': [
        'error',
        { paths: [
          { name: 'node:timers', message: `timers ${nondeterministic}` },
          { name: 'node:perf_hooks', message: `host time ${nondeterministic}` },
          { name: 'node:crypto', message: `host randomness ${nondeterministic}` },
        ] },
      ],
    },
  },
  {
    files: ['sim/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'node:timers', message: `timers ${nondeterministic}` },
            { name: 'node:perf_hooks', message: `host time ${nondeterministic}` },
            { name: 'node:crypto', message: `host randomness ${nondeterministic}` },
          ],
          patterns: [{ group: ['**/os/**', '../os/*', '../../os/*'], message: 'sim/ never imports os/: the kernel is a guest' }],
        },
      ],
    },
  },
);
