import { z } from 'zod';
import { PII_SEVERITIES, PII_TYPES, RISKS, SAFETY_MODES, type PiiType, type Risk, type SafetyMode, type Severity } from '../safety/index.js';
import { layer, merged, type Keys } from './layer.js';

// PII protection keys of the config file. The mode itself is the top-level `safety_mode`
// (also --safety-mode); this section refines it. The type, mode, severity and risk names are
// the safety domain's own lists.
const typeRecord = <T extends z.ZodType>(v: T) => z.partialRecord(z.enum(PII_TYPES), v);

const section = z.strictObject({
  per_type: typeRecord(z.enum(SAFETY_MODES)).optional(),
  severity: typeRecord(z.enum(PII_SEVERITIES)).optional(),
  risk: typeRecord(z.enum(RISKS)).optional(),
  allow_domains: z.array(z.string().min(1)).optional(),
  allow_values: z.array(z.string().min(1)).optional(),
  phone_regions: z.array(z.string().regex(/^[A-Z]{2}$/, 'must be a two-letter country code like GB')).optional(),
  redact_prompts: z.boolean().optional(),
  on_block: z.enum(['stop', 'refuse']).optional(),
  webhook_url: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL').optional(),
});

export const safetyFileSchema = { safety: section.optional() };

export interface SafetyConfig {
  perType: Partial<Record<PiiType, SafetyMode>>;
  severity: Partial<Record<PiiType, Severity>>;
  risk: Partial<Record<PiiType, Risk>>;
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

type Section = z.output<typeof section>;

/** The `safety:` section, key by key; per-type tables merge over the ones so far. */
const SAFETY_KEYS: Keys<SafetyConfig, Section> = {
  perType: merged('per_type'),
  severity: merged('severity'),
  risk: merged('risk'),
  allowDomains: 'allow_domains',
  allowValues: 'allow_values',
  phoneRegions: 'phone_regions',
  redactPrompts: 'redact_prompts',
  onBlock: 'on_block',
  webhookUrl: 'webhook_url',
};

export const applySafety = (cur: SafetyConfig, l: { safety?: Section }): SafetyConfig => layer(cur, l.safety, SAFETY_KEYS);
