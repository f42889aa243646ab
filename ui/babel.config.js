// Babel for the unit tests only: the extension build uses pkg/harvesterrke/babel.config.js (the shell's).
module.exports = {
  presets: [
    ['@babel/preset-env', { targets: { node: 'current' } }],
    '@babel/preset-typescript',
  ],
};
