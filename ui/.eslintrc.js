// Lint for the extension and its tests: eslint-config-standard and eslint-plugin-vue's Vue 3 rules,
// with the Rancher Dashboard's code style where it differs (semicolons, aligned keys, `async()`).
module.exports = {
  root: true,
  env:  {
    browser: true, node: true, es2021: true, jest: true
  },
  parser:        'vue-eslint-parser',
  parserOptions: {
    parser: '@typescript-eslint/parser', ecmaVersion: 2022, sourceType: 'module'
  },
  plugins: ['@typescript-eslint'],
  extends: ['standard', 'plugin:vue/vue3-recommended'],
  rules:   {
    semi:                                ['error', 'always'],
    indent:                              ['error', 2, { SwitchCase: 0 }],
    'comma-dangle':                      ['error', 'only-multiline'],
    'space-before-function-paren':       ['error', 'never'],
    'template-curly-spacing':            ['error', 'always'],
    'key-spacing':                       ['error', { align: { beforeColon: false, afterColon: true, on: 'value', mode: 'minimum' } }],
    'object-curly-spacing':              ['error', 'always'],
    curly:                               ['error', 'all'],
    'no-console':                        'error',
    'no-unused-vars':                    'off',
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    'vue/max-attributes-per-line':       ['error', { singleline: 1, multiline: 1 }],
    // TypeScript resolves these; the base rules do not understand types.
    'no-undef':                          'off',
    'no-use-before-define':              'off',
    'no-redeclare':                      'off',
  },
  overrides: [{
    // The fake Dashboard registers the host's global components under the host's names.
    files: ['test/support/*.js'],
    rules: { 'vue/multi-word-component-names': 'off', 'vue/component-definition-name-casing': 'off' },
  }, {
    files: ['test/unit/setup.ts', 'test/browser/*.mjs'],
    rules: { 'no-console': 'off' },
  }],
  ignorePatterns: ['node_modules/', 'dist-pkg/', 'test-results/', 'pkg/*/.shell'],
};
