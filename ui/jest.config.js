// Unit tests of the extension, in jsdom with @vue/test-utils, as the Rancher Dashboard tests its own.
module.exports = {
  testEnvironment:      'jsdom',
  roots:                ['<rootDir>/pkg', '<rootDir>/test'],
  testMatch:            ['**/__tests__/**/*.test.ts', '<rootDir>/test/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'vue', 'json'],
  // First match wins: images before the path aliases.
  moduleNameMapper:     {
    '\\.(svg|png|jpe?g)$': '<rootDir>/test/unit/file-stub.js',
    '^[@~]shell/(.*)$':    '<rootDir>/node_modules/@rancher/shell/$1',
    '^@components/(.*)$':  '<rootDir>/node_modules/@rancher/shell/rancher-components/$1',
    '^@pkg/(.*)$':         '<rootDir>/pkg/$1',
  },
  transform: {
    '^.+\\.(m?js|ts)$': 'babel-jest',
    '^.+\\.vue$':       '<rootDir>/test/unit/vue-transform.js',
  },
  // @rancher/shell ships its sources untranspiled; from 3.0.13 on it imports vee-validate's ES modules.
  transformIgnorePatterns: ['/node_modules/(?!(@rancher/shell|vee-validate|@vee-validate)/)'],
  setupFilesAfterEnv:      ['<rootDir>/test/unit/setup.ts'],
  watchman:                false,
  // The machines are shared 2-core ones: mounting the form the first time can take seconds.
  testTimeout:             30000,
  // Templates hold no TypeScript; compiled as TS, vue3-jest would hand them to a plain-JS Babel.
  globals:                 {
    'vue-jest': {
      compilerOptions: { isTS: false },
      // resolved from the working directory: run jest from ui/ (npm test does)
      transform:       { ts: './test/unit/vue-ts-script.js' },
    },
  },
};
