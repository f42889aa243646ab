import { inject } from 'vue';
import type { FormState } from '../util/form';
import type { Problem } from '../util/validation';
import type { HarvesterChoices } from '../util/harvester';

/**
 * What the cluster form shares with its steps and fields. The root component provides it; steps and
 * fields read and change the one FormState through it instead of passing it down prop by prop.
 */
export interface FormContext {
  readonly form: FormState;
  /** create, edit or view: the CruResource mode */
  readonly mode: string;
  readonly isEdit: boolean;
  /** choices read from a Harvester cluster that this Rancher manages; null means free text */
  readonly choices: HarvesterChoices | null;
  /** the problems to show now for a field (after it was changed, or after a save attempt) */
  shownProblems(option: string): Problem[];
  /** marks a field as changed, so its problems show from now on */
  touch(option: string): void;
  message(problem: Problem): string;
}

export const FORM_CONTEXT = Symbol('harvesterrke-form-context');

export function useFormContext(): FormContext {
  const ctx = inject<FormContext>(FORM_CONTEXT);

  if (!ctx) {
    throw new Error('harvesterrke form fields must be inside the cluster form');
  }

  return ctx;
}
