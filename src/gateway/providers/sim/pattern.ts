/**
 * A string matching a simple regular expression (`pattern` in a JSON schema): literals, escapes,
 * classes, groups with alternation and quantifiers, each repeated its minimum (at least once for
 * `+`). Enough for the patterns tools declare (`^[A-Z]{3}$`, `^\d{4}-\d{2}$`, `^(asc|desc)$`).
 * Returns null when the pattern is beyond it; the caller then keeps its best plain candidate.
 */

/** Patterns are agent input; parsing one is recursive, so both length and nesting are bounded. */
const MAX_PATTERN = 1_000;
const MAX_NESTING = 32;
/** Longest string written: nested quantifiers multiply (`(a{1000}){1000}`). */
const MAX_OUTPUT = 10_000;

const CLASS: Record<string, string> = { d: '0', w: 'a', s: ' ', D: 'a', W: '-', S: 'a' };

class Parser {
  i = 0;
  constructor(readonly p: string) {}

  alternation(depth: number): string {
    if (depth > MAX_NESTING) throw new Error('too deep');
    const first = this.sequence(depth);
    // Later alternatives are parsed only to skip them: the first one is the answer.
    while (this.p[this.i] === '|') {
      this.i++;
      this.sequence(depth);
    }
    return first;
  }

  private sequence(depth: number): string {
    let out = '';
    while (this.i < this.p.length && this.p[this.i] !== '|' && this.p[this.i] !== ')') {
      const atom = this.atom(depth);
      const [min] = this.quantifier();
      if (out.length + atom.length * min > MAX_OUTPUT) throw new Error('too long');
      out += atom.repeat(min);
    }
    return out;
  }

  private atom(depth: number): string {
    const c = this.p[this.i++]!;
    if (c === '^' || c === '$') return '';
    if (c === '.') return 'a';
    if (c === '\\') return this.escape();
    if (c === '[') return this.klass();
    if (c === '(') {
      if (this.p[this.i] === '?') {
        if (this.p[this.i + 1] !== ':') throw new Error('lookaround');
        this.i += 2;
      }
      const inner = this.alternation(depth + 1);
      if (this.p[this.i++] !== ')') throw new Error('unbalanced');
      return inner;
    }
    if ('*+?{'.includes(c)) throw new Error('dangling quantifier');
    return c;
  }

  private escape(): string {
    const c = this.p[this.i++];
    if (c === undefined) throw new Error('trailing backslash');
    if (c in CLASS) return CLASS[c]!;
    if (c === 'b' || c === 'B') return '';
    if (/[0-9]/.test(c)) throw new Error('backreference');
    return c === 'n' ? '\n' : c === 't' ? '\t' : c;
  }

  private klass(): string {
    const negated = this.p[this.i] === '^';
    if (negated) this.i++;
    const members: string[] = [];
    let firstIn: string | null = null;
    while (this.i < this.p.length && (this.p[this.i] !== ']' || members.length === 0)) {
      let c = this.p[this.i++]!;
      if (c === '\\') c = this.escape();
      if (this.p[this.i] === '-' && this.p[this.i + 1] !== ']' && this.p[this.i + 1] !== undefined) {
        this.i++;
        let end = this.p[this.i++]!;
        if (end === '\\') end = this.escape();
        members.push(`${c}-${end}`);
      } else members.push(c);
      firstIn ??= c;
    }
    if (this.p[this.i++] !== ']') throw new Error('unterminated class');
    if (!negated) return firstIn ?? 'a';
    const re = new RegExp(`[^${members.map((m) => m.replace(/[\]\\^]/g, '\\$&')).join('')}]`);
    for (const cand of 'aA0_-x. ') if (re.test(cand)) return cand;
    throw new Error('no character');
  }

  private quantifier(): [number] {
    const c = this.p[this.i];
    let min = 1;
    if (c === '*' || c === '?') (min = 0), this.i++;
    else if (c === '+') this.i++;
    else if (c === '{') {
      const m = /^\{(\d+)(?:,(\d*))?\}/.exec(this.p.slice(this.i));
      if (!m) return [1];
      min = Number(m[1]);
      this.i += m[0].length;
    }
    if (this.p[this.i] === '?' || this.p[this.i] === '+') this.i++; // lazy / possessive
    return [Math.min(min, 1_000)];
  }
}

/**
 * A string matching `pattern`, or null when the pattern uses what this does not model.
 * @example fromPattern('^[A-Z]{3}-\\d{2}$') // 'AAA-00'
 */
export function fromPattern(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN) return null;
  try {
    const p = new Parser(pattern);
    const out = p.alternation(0);
    if (p.i !== pattern.length) return null;
    return new RegExp(pattern, 'u').test(out) ? out : null;
  } catch {
    return null;
  }
}
