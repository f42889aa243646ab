import { config } from '@vue/test-utils';

// Warnings about the shell's own components, not ours to fix: from 3.0.13 on (Rancher 2.15) its
// LabeledSelect returns _options from setup(), which development builds of Vue warn about.
const SHELL_WARNINGS = ['setup() return property "_options" should not start with'];

// Fail on Vue warnings (an unresolved component or directive, a bad prop) instead of printing them.
config.global.config.warnHandler = (msg: string, _vm: any, trace: string) => {
  if (SHELL_WARNINGS.some((w) => msg.startsWith(w))) {
    return;
  }
  throw new Error(`Vue warning: ${ msg }\n${ trace }`);
};

// The one warning Vue prints outside a component, so past warnHandler: the Dashboard's Tabbed calls
// lodash isEmpty() on a component instance. Development builds only; not ours to fix.
const KNOWN = 'Avoid app logic that relies on enumerating keys on a component instance';
const warn = console.warn;

console.warn = (...args: any[]) => {
  if (String(args[0]).includes(KNOWN)) {
    return;
  }
  warn(...args);
};

// jsdom has no Web Crypto or TextEncoder; the browser's come from Node's own implementations, so the
// fingerprint is computed by a real SHA-256 in the tests too.
if (!globalThis.crypto?.subtle) {
  Object.defineProperty(globalThis, 'crypto', { value: require('crypto').webcrypto, configurable: true });
}
if (typeof globalThis.TextEncoder === 'undefined') {
  globalThis.TextEncoder = require('util').TextEncoder;
}
