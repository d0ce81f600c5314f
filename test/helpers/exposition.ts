/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The samples of a Prometheus text exposition (format 0.0.4), comments skipped.
 *
 * @example
 *   parseExposition('a_total{x="1"} 2\n') // [{ name: 'a_total', labels: { x: '1' }, value: 2 }]
 */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    out.push({ name: m[1]!, labels: labelsOf(m[2] ?? ''), value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `a="x",b="y\\"z"` read in one pass (a scrape at the series cap is megabytes of escaped values). */
function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('="', i);
    if (eq < 0) break;
    const name = text.slice(i, eq);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`not a label name: ${name}`);
    let value = '';
    let from = eq + 2;
    let j = from;
    for (; j < text.length && text.charCodeAt(j) !== QUOTE; j++) {
      if (text.charCodeAt(j) !== BACKSLASH) continue;
      value += `${text.slice(from, j)}${text[j + 1] === 'n' ? '\n' : (text[j + 1] ?? '')}`;
      from = ++j + 1;
    }
    if (j >= text.length) throw new Error(`an unclosed label value: ${text}`);
    value += text.slice(from, j);
    labels[name] = value;
    i = text[j + 1] === ',' ? j + 2 : j + 1;
  }
  return labels;
}

const matches = (s: Sample, name: string, labels: Record<string, string>) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);

/** The sum of every sample of `name` whose labels include `labels`. */
export function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => matches(s, name, labels)).reduce((a, s) => a + s.value, 0);
}

/** The one sample of `name` with `labels` (undefined when none; an error when several match). */
export function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.filter((s) => matches(s, name, labels));
  if (hit.length > 1) throw new Error(`${hit.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hit[0]?.value;
}
