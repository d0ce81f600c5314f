import type { z } from 'zod';

/**
 * One zod issue as one precise phrase: `done: must be a whole number`, `unknown key 'budgte'`.
 * Shared by the config loader and the HTTP boundary so both speak the same way.
 */
export function describeZodIssue(issue: z.core.$ZodIssue, noun = 'field'): string {
  const path = issue.path.map(String).join('.');
  const at = path ? `${path}: ` : '';
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => `'${path ? `${path}.${k}` : k}'`);
      return `unknown ${noun}${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    case 'invalid_type':
      if (issue.expected === 'int') return `${at}must be a whole number`;
      if (issue.expected === 'nonoptional') return `${at}required`;
      return `${at}expected ${issue.expected}`;
    case 'invalid_value':
      return `${at}must be one of ${issue.values.map((v) => (typeof v === 'string' && noun === 'key' ? v : JSON.stringify(v))).join(', ')}`;
    default:
      return `${at}${issue.message}`;
  }
}
