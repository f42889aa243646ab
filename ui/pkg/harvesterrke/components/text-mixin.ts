import { defineComponent } from 'vue';

/**
 * Translated plain text. Rancher's global t() HTML-escapes its result for use with v-clean-html, so
 * an apostrophe would show as &#39; in an interpolation or a prop; Vue escapes those itself, so the
 * form asks for the raw string.
 */
export default defineComponent({
  methods: {
    text(key: string, args?: Record<string, any>): string {
      return this.t(key, args || {}, true);
    },
  },
});
