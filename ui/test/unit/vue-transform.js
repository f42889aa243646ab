// vue3-jest, with TypeScript registered in Vue's SFC compiler: <script setup> components of newer
// shells (3.0.13's RcButton) declare props with imported types, which only TypeScript can resolve.
require('@vue/compiler-sfc').registerTS(() => require('typescript'));

module.exports = require('@vue/vue3-jest');
