import { z } from 'zod';

// PII protection keys of the config file. The mode itself is the top-level `safety_mode`
// (also --safety-mode); this section refines it.
const TYPES = ['EMAIL', 'PHONE', 'SSN', 'CREDIT_CARD', 'IBAN', 'IP_ADDRESS', 'API_KEY'] as const;
const typeRecord = <T extends z.ZodType>(v: T) => z.partialRecord(z.enum(TYPES), v);

export const safetyFileSchema = {
  safety: z
    .strictObject({
      per_type: typeRecord(z.enum(['redact', 'block', 'warn'])).optional(),
      severity: typeRecord(z.enum(['CRITICAL', 'WARN', 'INFO'])).optional(),
      risk: typeRecord(z.enum(['HIGH', 'MEDIUM', 'LOW'])).optional(),
      allow_domains: z.array(z.string().min(1)).optional(),
      allow_values: z.array(z.string().min(1)).optional(),
      phone_regions: z.array(z.string().regex(/^[A-Z]{2}$/, 'must be a two-letter country code like GB')).optional(),
      redact_prompts: z.boolean().optional(),
      on_block: z.enum(['stop', 'refuse']).optional(),
      webhook_url: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL').optional(),
    })
    .optional(),
};

export type PiiTypeName = (typeof TYPES)[number];

export interface SafetyConfig {
  perType: Partial<Record<PiiTypeName, 'redact' | 'block' | 'warn'>>;
  severity: Partial<Record<PiiTypeName, 'CRITICAL' | 'WARN' | 'INFO'>>;
  risk: Partial<Record<PiiTypeName, 'HIGH' | 'MEDIUM' | 'LOW'>>;
  allowDomains: string[];
  allowValues: string[];
  phoneRegions: string[] | null;
  redactPrompts: boolean;
  onBlock: 'stop' | 'refuse';
  webhookUrl: string | null;
}

export const SAFETY_DEFAULTS: SafetyConfig = {
  perType: {},
  severity: {},
  risk: {},
  allowDomains: [],
  allowValues: [],
  phoneRegions: null,
  redactPrompts: false,
  onBlock: 'stop',
  webhookUrl: null,
};

type Layer = { safety?: z.output<(typeof safetyFileSchema)['safety']> };

export function applySafety(cur: SafetyConfig, l: Layer): SafetyConfig {
  const s = l.safety;
  if (!s) return cur;
  return {
    perType: { ...cur.perType, ...s.per_type },
    severity: { ...cur.severity, ...s.severity },
    risk: { ...cur.risk, ...s.risk },
    allowDomains: s.allow_domains ?? cur.allowDomains,
    allowValues: s.allow_values ?? cur.allowValues,
    phoneRegions: s.phone_regions ?? cur.phoneRegions,
    redactPrompts: s.redact_prompts ?? cur.redactPrompts,
    onBlock: s.on_block ?? cur.onBlock,
    webhookUrl: s.webhook_url ?? cur.webhookUrl,
  };
}
