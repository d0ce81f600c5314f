import type { ModelInfo, Provider } from '@pydantic/genai-prices';
import { genaiPrices, MAJOR_PROVIDERS, toSchedule } from './catalog.js';
import type { PriceSchedule } from './rates.js';

// A model the table does not know yet is usually a new snapshot or variant of a family it does
// know (`gpt-4o-2099-01-01`, `claude-3-5-sonnet-next`). Charging it the dearest price of that
// family over-reserves a little instead of guessing a flat default that may be 500× off.

/**
 * Single-word families broad enough to stand for a brand. Any other family needs two words, so
 * `text-foo` is not priced like `text-embedding-*` (input only, which would under-charge a chat model).
 */
const BRANDS = new Set(['gpt', 'claude', 'gemini', 'grok', 'mistral', 'deepseek', 'command', 'llama']);
/** OpenAI's reasoning series (o1, o3, o4…) are families of one short word too. */
const SERIES = /^o\d+$/;

/**
 * Variants priced for another modality or tier (audio tokens, a pro tier). A plain new snapshot
 * is priced like its plain siblings, not like these; a name that says `audio` is priced with them.
 */
const VARIANTS = new Set(['audio', 'tts', 'realtime', 'transcribe', 'search', 'pro', 'image', 'computer']);

/** Whether table entry `id` (of `family`) is a variant the unknown `model` does not name. */
function otherVariant(id: string, family: string, model: string): boolean {
  const wanted = new Set(model.toLowerCase().split('-'));
  return id
    .slice(family.length)
    .split('-')
    .some((w) => VARIANTS.has(w) && !wanted.has(w));
}

export interface FamilyMatch {
  /** The prefix shared with the known models, e.g. `gpt-4o`. */
  family: string;
  providerId: string;
  /** The table entry whose price is used: the dearest of the family. */
  modelId: string;
  schedule: PriceSchedule;
}

/**
 * The prefixes a model may share with its family, longest first.
 *
 * @example
 *   familiesOf('gpt-4o-2099-01') // ['gpt-4o-2099-01', 'gpt-4o-2099', 'gpt-4o', 'gpt']
 *   familiesOf('acme-chat-1')    // ['acme-chat-1', 'acme-chat'] (one word only for a brand or an o-series)
 */
export function familiesOf(model: string): string[] {
  const words = model.toLowerCase().trim().split('-');
  const out: string[] = [];
  for (let k = words.length; k >= 1; k--) {
    const prefix = words.slice(0, k).join('-');
    if (prefix === '' || (k === 1 && !BRANDS.has(prefix) && !SERIES.test(prefix))) continue;
    out.push(prefix);
  }
  return out;
}

function providersFor(model: string, providerId: string | undefined): Provider[] {
  const ids = new Set<string>();
  const out: Provider[] = [];
  const add = (p: Provider | undefined) => {
    if (p && !ids.has(p.id)) {
      ids.add(p.id);
      out.push(p);
    }
  };
  const { findProvider } = genaiPrices();
  if (providerId) add(findProvider({ providerId }));
  add(findProvider({ modelId: model.toLowerCase() }));
  for (const id of MAJOR_PROVIDERS) add(findProvider({ providerId: id }));
  return out;
}

function scheduleOf(provider: Provider, m: ModelInfo): PriceSchedule | null {
  if (!Array.isArray(m.prices)) return toSchedule(m.prices);
  try {
    const r = genaiPrices().calcPrice({}, m.id, { provider: { ...provider, models: [m] } });
    return r ? toSchedule(r.model_price) : null;
  } catch {
    return null;
  }
}

/** What a million input plus a million output tokens cost: the order "dearest" means. */
const weight = (s: PriceSchedule) => s.rates.input + s.rates.output;

/**
 * The dearest known price among the models whose name starts with the longest family prefix of
 * `model` that has any; null when no family is known. Free entries do not count as a family, nor
 * do variants for another modality or tier (`-audio`, `-tts`, `-realtime`, `-pro`…) unless
 * `model` names the same variant.
 *
 * @example
 *   familyPrice('gpt-4o-2099-01-01', 'openai')?.family   // 'gpt-4o'
 *   familyPrice('text-embedding-4', 'simulated')?.modelId // 'text-embedding-3-large'
 */
export function familyPrice(model: string, providerId?: string): FamilyMatch | null {
  const providers = providersFor(model, providerId);
  for (const family of familiesOf(model)) {
    let best: FamilyMatch | null = null;
    for (const p of providers) {
      for (const m of p.models) {
        const id = m.id.toLowerCase();
        if ((id !== family && !id.startsWith(`${family}-`)) || otherVariant(id, family, model)) continue;
        const schedule = scheduleOf(p, m);
        if (schedule === null || weight(schedule) === 0) continue;
        if (best === null || weight(schedule) > weight(best.schedule)) best = { family, providerId: p.id, modelId: m.id, schedule };
      }
    }
    if (best) return best;
  }
  return null;
}
