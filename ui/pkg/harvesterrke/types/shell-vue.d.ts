// The shell's components as Vue 3 components. Shells before 3.0.8 type every '*.vue' module as the
// vue module itself (a Vue 2 leftover), which defineComponent's `components` refuses; this pattern
// is longer than '*.vue', so TypeScript prefers it under every shell.
declare module '@shell/*.vue' {
  import type { DefineComponent } from 'vue';

  const component: DefineComponent<{}, {}, any>;
  export default component;
}
