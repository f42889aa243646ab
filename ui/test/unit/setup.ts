import { config } from '@vue/test-utils';

// Fail on Vue warnings (an unresolved component or directive, a bad prop) instead of printing them.
config.global.config.warnHandler = (msg: string, _vm: any, trace: string) => {
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
