// vue3-jest's own TypeScript path needs ts-jest; compile <script lang="ts"> with Babel instead. The
// .ts suffix makes Babel's TypeScript preset apply to the script block of a .vue file.
const babelJest = require('babel-jest').default;

const transformer = babelJest.createTransformer();

module.exports = {
  process(src, filename, options) {
    return transformer.process(src, `${ filename }.ts`, options);
  },
};
