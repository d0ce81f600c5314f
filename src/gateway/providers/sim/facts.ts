/**
 * What a prompt says that a tool argument or a JSON field can use: "weather in Paris" gives a
 * city, "email ana@example.com" an email, "for 3 days" a number of days. Regexes over a bounded
 * prefix of the text, so a huge prompt costs no more than a large one.
 */

/** Longest prompt prefix searched: plenty for a request, and it bounds regex time. */
const MAX_SCAN = 20_000;

const STOP = new Set(
  'a an the and or but of in on at to for from by with about into over under is are was were be been being do does did what whats which who whom whose when where why how can could would should will shall may might must please tell me my our your their its it this that these those there here i you we they he she him her them us get give show find let lets make need want know like some any all just also now today currently current'.split(
    ' ',
  ),
);

/** Words that open a request ("Extract: ...", "Send ..."), never a name. */
const OPENERS = new Set(
  'extract send find write summarize summarise describe tell show list create make use run reply say give look search book call check compute calculate explain generate return parse classify translate answer hi hello hey dear thanks ok okay yes no'.split(
    ' ',
  ),
);

const LOCATION = /^(city|location|place|town|country|region|destination|address|where|origin|area|state|venue)$/;
const PERSON = /^(name|person|user|username|author|contact|recipient|customer|owner|assignee|who)$/;
const FREE_TEXT = /^(query|q|search|text|prompt|input|message|question|topic|keywords?|terms?|content|body|subject|description|summary|note)$/;

/** Lowercase words of an identifier: `getWeather`, `get_weather`, `get-weather` → ['get', 'weather']. */
export function identifierWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/** A crude stem so "cities" meets "city" and "emails" meets "email". */
export function stem(w: string): string {
  if (w.length > 4 && w.endsWith('ies')) return `${w.slice(0, -3)}y`;
  if (w.length > 3 && w.endsWith('es') && /(s|x|ch|sh)es$/.test(w)) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) return w.slice(0, -1);
  return w;
}

/** Content words of a text (stop words dropped), stemmed. */
export function contentWords(text: string): string[] {
  return identifierWords(text.slice(0, MAX_SCAN))
    .filter((w) => !STOP.has(w) && w.length > 1)
    .map(stem);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const first = (re: RegExp, text: string) => re.exec(text)?.[0];

export class PromptFacts {
  readonly text: string;
  readonly words: Set<string>;

  constructor(text: string) {
    // A JSON example or schema in the prompt shows a shape, not values: its keys must not answer.
    let t = text.slice(0, MAX_SCAN);
    for (let i = 0, prev = ''; i < 32 && prev !== t; i++) (prev = t), (t = t.replace(/\{[^{}]*\}/g, ' '));
    this.text = t;
    this.words = new Set(contentWords(this.text));
  }

  /** Whether the prompt mentions `value` as a word or phrase (case-insensitive). */
  mentions(value: string): boolean {
    if (value.trim() === '') return false;
    return new RegExp(`(^|[^\\p{L}\\p{N}])${escapeRe(value)}($|[^\\p{L}\\p{N}])`, 'iu').test(this.text);
  }

  /** A value the prompt gives for a string property named `name` (with a `format`), if any. */
  string(name: string, format?: string): string | undefined {
    const byFormat = this.byFormat(format ?? formatFromName(name));
    if (byFormat !== undefined) return byFormat;
    const named = this.afterName(name);
    if (named !== undefined) return named;
    const words = identifierWords(name);
    const last = words[words.length - 1] ?? '';
    if (/^(origin|from|source|departure)$/.test(last)) return this.afterPreposition('from');
    if (/^(destination|to|target|arrival)$/.test(last)) return this.afterPreposition('to');
    if (LOCATION.test(last)) return this.afterPreposition('in|at|for|to|from|near|of|around');
    if (/^(expression|formula|equation|calculation|math)$/.test(last)) return /[-+(]?\d[\d\s.]*(?:[-+*/^%×÷][\s(]*\d[\d\s.)]*)+/.exec(this.text)?.[0].trim();
    if (PERSON.test(last)) return this.properNoun();
    if (FREE_TEXT.test(last)) return this.quoted() ?? (this.text.trim().slice(0, 200) || undefined);
    return undefined;
  }

  /** A number the prompt gives for a property named `name`: "3 days", "limit: 5", "top 10". */
  number(name: string): number | undefined {
    const words = identifierWords(name);
    if (words.length === 0) return undefined;
    const n = words.map(escapeRe).join('[\\s_-]*');
    const m = new RegExp(`\\b${n}\\b\\D{0,16}?(-?\\d+(?:\\.\\d+)?)`, 'i').exec(this.text) ?? new RegExp(`(-?\\d+(?:\\.\\d+)?)\\s*${n}`, 'i').exec(this.text);
    return m ? Number(m[1]) : undefined;
  }

  /** The prompt's number when it has exactly one: "John is 42" gives an age. */
  onlyNumber(): number | undefined {
    const all = this.text.match(/-?\b\d+(?:\.\d+)?\b/g) ?? [];
    return all.length === 1 ? Number(all[0]) : undefined;
  }

  private byFormat(format: string | undefined): string | undefined {
    switch (format) {
      case 'email':
        return first(/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/, this.text);
      case 'date':
        return first(/\b\d{4}-\d{2}-\d{2}\b/, this.text);
      case 'date-time':
        return first(/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})\b/, this.text);
      case 'uri':
      case 'url':
        return first(/\bhttps?:\/\/[^\s"'<>]+[^\s"'<>.,;:!?)]/, this.text);
      case 'uuid':
        return first(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/i, this.text);
      default:
        return undefined;
    }
  }

  /** "city: Paris", "city of Paris", 'title "Hello"', "name is Ana Lima". */
  private afterName(name: string): string | undefined {
    const words = identifierWords(name);
    if (words.length === 0) return undefined;
    const re = new RegExp(`\\b${words.map(escapeRe).join('[\\s_-]*')}\\b\\s*(?:(?:is|was|=|:|of|named|called|as|to|should be)\\s*)?`, 'gi');
    // Sticky, so each try reads the text in place; a name mentioned often is tried a few times only.
    const value = /"([^"]+)"|'([^']+)'|([\p{Lu}][\p{L}\p{N}'-]*(?:\s+[\p{Lu}][\p{L}\p{N}'-]*)*)|([^\s,;!?"']+[^\s,;!?"'.])/uy;
    for (let m = re.exec(this.text), tries = 0; m !== null && tries < 20; m = re.exec(this.text), tries++) {
      value.lastIndex = m.index + m[0].length;
      const v = value.exec(this.text);
      const found = v?.[1] ?? v?.[2] ?? v?.[3] ?? v?.[4];
      if (found !== undefined && !STOP.has(found.toLowerCase())) return found;
      if (re.lastIndex === m.index) re.lastIndex++;
    }
    return undefined;
  }

  /** "weather in Paris", "flights to New York": a capitalised phrase after a preposition. */
  private afterPreposition(prepositions: string): string | undefined {
    return new RegExp(`\\b(?:${prepositions})\\s+((?:the\\s+)?[\\p{Lu}][\\p{L}'-]*(?:\\s+[\\p{Lu}][\\p{L}'-]*)*)`, 'u').exec(this.text)?.[1]?.replace(/^the\s+/, '');
  }

  /** A capitalised phrase that does not start a sentence: most likely a name. */
  private properNoun(): string | undefined {
    const inside = /(?<![.!?]\s|^)(?<=\s)([\p{Lu}][\p{Ll}][\p{L}'-]*(?:\s+[\p{Lu}][\p{Ll}][\p{L}'-]*)*)/u.exec(this.text)?.[1];
    if (inside !== undefined) return inside;
    // "Ana is 31": a sentence may start with the name, as long as the word is no common one.
    const m = /(?:^|[.!?]\s+)([\p{Lu}][\p{Ll}][\p{L}'-]*(?:\s+[\p{Lu}][\p{Ll}][\p{L}'-]*)*)/u.exec(this.text)?.[1];
    const first = m?.split(/\s/)[0]?.toLowerCase() ?? '';
    return m !== undefined && !STOP.has(first) && !OPENERS.has(first) ? m : undefined;
  }

  private quoted(): string | undefined {
    const m = /"([^"]{1,200})"|“([^”]{1,200})”|'([^']{2,200})'/.exec(this.text);
    return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
  }
}

/** The format a property's name implies when its schema says none: `email`, `website_url`. */
export function formatFromName(name: string): string | undefined {
  const last = identifierWords(name).at(-1);
  if (last === 'email') return 'email';
  if (last === 'url' || last === 'uri' || last === 'website' || last === 'link') return 'uri';
  if (last === 'date' || last === 'birthday') return 'date';
  return undefined;
}
