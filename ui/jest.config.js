// Unit tests of the extension, in jsdom with @vue/test-utils, as the Rancher Dashboard tests its own.
module.exports = {
  testEnvironment:      'jsdom',
  roots:                ['<rootDir>/pkg', '<rootDir>/test'],
  testMatch:            ['**/__tests__/**/*.test.ts', '<rootDir>/test/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'vue', 'json'],
  // First match wins: images before the path aliases.
  moduleNameMapper:     {
    '\\.(svg|png|jpe?g)$': '<rootDir>/test/unit/file-stub.js',
    '^[@~]shell/(.*)$':    '<rootDir>/node_modules/@rancher/shell/$1',
    '^@components/(.*)$':  '<rootDir>/node_modules/@rancher/shell/rancher-components/$1',
    '^@pkg/(.*)$':         '<rootDir>/pkg/$1',
  },
  transform: {
    '^.+\\.(js|ts)$': 'babel-jest',
    '^.+\\.vue$':     '@vue/vue3-jest',
  },
  // @rancher/shell ships its sources untranspiled.
  transformIgnorePatterns: ['/node_modules/(?!@rancher/shell/)'],
  setupFilesAfterEnv:      ['<rootDir>/test/unit/setup.ts'],
  watchman:                false,
  // Templates hold no TypeScript; compiled as TS, vue3-jest would hand them to a plain-JS Babel.
  globals:                 {
    'vue-jest': {
      compilerOptions: { isTS: false },
      // resolved from the working directory: run jest from ui/ (npm test does)
      transform:       { ts: './test/unit/vue-ts-script.js' },
    },
  },
};
