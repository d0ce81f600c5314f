// Benign text as this machine has it, for the injection corpus (corpus.ts): the installed npm
// packages' docs and source, Python's standard library, BIPIA's contexts (a clone or a mirror's git
// directory), the system's gettext catalogues and translated man pages, Vim's tutor. Each reader
// returns documents with a key that decides their split (corpus.ts: fileSplit), and picks the same
// files for the same installed inputs (walk).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Lang } from './phrases.js';

export interface Doc {
  text: string;
  lang: Lang | 'mixed';
  source: string;
  /**
   * What decides its split: its file, never a chunk of it (a manual's or a README's chunks repeat
   * each other's words, and would be trained on beside their held-out siblings), and never where
   * the clone stands (a path under it is given from its root: a clone elsewhere trains the same).
   */
  key: string;
}

/** A file's key: its path from the clone's root when under it, else as it is (a system file). */
const fileKey = (root: string, f: string) => (f.startsWith(`${root}/`) ? relative(root, f) : f);

function chunks(text: string, size: number): string[] {
  const out: string[] = [];
  const paras = text.split(/\n{2,}/);
  let cur = '';
  for (const p of paras) {
    if (cur.length + p.length > size && cur.length > 0) {
      out.push(cur);
      cur = '';
    }
    cur += (cur ? '\n\n' : '') + p;
  }
  if (cur.trim().length > 0) out.push(cur);
  return out.filter((c) => c.trim().length >= 40);
}

/**
 * The files under `dir` whose names match (at most 6 folders down, past no hidden entry:
 * `node_modules/.cache` holds tsx's compiled files and the tests' venvs, which come and go with
 * every run), then `limit` of them picked by a hash of their path under `dir`: a spread over every
 * package, the same on every machine with the same packages (a directory's own order is the file
 * system's, and the first files of a walk cut short were those of a few packages).
 */
/**
 * The corpus picks: which files `walk` picks, when there are more than it takes, by a salt (another
 * salt, another spread). The trainer trains a model on each and averages them (train.ts); the
 * first is the one validated and held out, and the one every other reader of the sources (rank.ts)
 * reads. Until 2026-11-28 one model was trained, on a pick chosen among three on the validation
 * part (`b`): PICKS=b.
 */
export const PICKS = (process.env.PICKS ?? 'b,a,c,d,e').split(',').filter(Boolean);
if (PICKS.length === 0) throw new Error('PICKS: name at least one corpus pick (a salt), e.g. PICKS=b');
let PICK_SALT = PICKS[0]!;
/** The salt the next walks pick with (the trainer's, one pick after the other). */
export function usePickSalt(salt: string): void {
  PICK_SALT = salt;
}
/** How many of the installed packages' docs and source files the benign corpus reads. */
const PACKAGE_DOCS = Number(process.env.PACKAGE_DOCS ?? 3000);
const PACKAGE_CODE = Number(process.env.PACKAGE_CODE ?? 1500);
function walk(dir: string, match: (name: string) => boolean, out: string[], limit: number): void {
  const all: string[] = [];
  collect(dir, match, all, 0);
  const key = (f: string) =>
    createHash('sha1')
      .update(`${PICK_SALT}${relative(dir, f)}`)
      .digest('hex');
  out.push(
    ...all
      .map((f) => [key(f), f] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, limit)
      .map(([, f]) => f),
  );
}
function collect(dir: string, match: (name: string) => boolean, out: string[], depth: number): void {
  if (depth > 6 || out.length >= 200_000) return;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const p = join(dir, n);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) collect(p, match, out, depth + 1);
    else if (match(n) && st.size < 400_000) out.push(p);
  }
}

export function readmes(root: string): Doc[] {
  const files: string[] = [];
  walk(join(root, 'node_modules'), (n) => /^(readme|changelog|history|contributing|security)\.md$/i.test(n) || /\.md$/i.test(n), files, PACKAGE_DOCS);
  const docs: Doc[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const c of chunks(text, 1800)) {
      docs.push({ text: c, lang: 'en', source: 'readme', key: fileKey(root, f) });
    }
  }
  return docs;
}

export function code(root: string): Doc[] {
  const files: string[] = [];
  walk(join(root, 'node_modules'), (n) => /\.(?:ts|js|py|json)$/.test(n) && !n.endsWith('.d.ts') && !n.endsWith('.min.js'), files, PACKAGE_CODE);
  walk('/usr/lib/python3.11', (n) => n.endsWith('.py'), files, 2500);
  const docs: Doc[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8').slice(0, 6000);
    if (/[\u0000]/.test(text)) continue;
    docs.push({ text, lang: 'en', source: f.endsWith('.json') ? 'json-file' : 'code', key: fileKey(root, f) });
  }
  return docs;
}

export function git(repo: string, path: string): string | null {
  try {
    return execFileSync('git', ['--git-dir', repo, 'show', `HEAD:${path}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch {
    return null;
  }
}

/** BIPIA's contexts (e-mails, tables, code): github:microsoft/BIPIA, `benchmark/{email,table,code}/*.jsonl`. */
export function bipia(dir: string | undefined): Doc[] {
  if (!dir) return [];
  const docs: Doc[] = [];
  for (const kind of ['email', 'table', 'code']) {
    for (const part of ['train', 'test']) {
      const body = existsSync(join(dir, 'benchmark')) ? readFileSync(join(dir, `benchmark/${kind}/${part}.jsonl`), 'utf8') : git(dir, `benchmark/${kind}/${part}.jsonl`);
      if (!body) continue;
      body
        .split('\n')
        .filter(Boolean)
        .forEach((line, i) => {
          const o = JSON.parse(line) as { context?: string | string[] };
          const ctx = Array.isArray(o.context) ? o.context.join('\n') : (o.context ?? '');
          if (ctx.length >= 40) docs.push({ text: ctx.slice(0, 6000), lang: 'en', source: `bipia-${kind}`, key: `${kind}${part}${i}` });
        });
    }
  }
  return docs;
}

/** Translated messages of the system's gettext catalogues, a handful joined per document. */
export function gettext(r: () => number): Doc[] {
  const dirs: Record<string, Lang> = { de: 'de', fr: 'fr', es: 'es', ru: 'ru', zh_CN: 'zh' };
  const docs: Doc[] = [];
  for (const [dir, lang] of Object.entries(dirs)) {
    const base = `/usr/share/locale/${dir}/LC_MESSAGES`;
    if (!existsSync(base)) continue;
    for (const f of readdirSync(base)) {
      if (!f.endsWith('.mo') || f.startsWith('iso_')) continue;
      const msgs = readMo(join(base, f)).filter((m) => m.length >= 20 && m.length < 600);
      for (let i = 0; i < msgs.length; ) {
        const n = 1 + Math.floor(r() * 6);
        docs.push({ text: msgs.slice(i, i + n).join(r() < 0.5 ? '\n' : ' '), lang, source: 'gettext', key: f });
        i += n;
      }
    }
  }
  return docs;
}

function readMo(path: string): string[] {
  const b = readFileSync(path);
  const le = b.readUInt32LE(0) === 0x950412de;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const n = u32(8);
  const tOff = u32(16);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = u32(tOff + i * 8);
    const off = u32(tOff + i * 8 + 4);
    const s = b.subarray(off, off + len).toString('utf8');
    if (s.startsWith('Project-Id-Version') || s.includes('Content-Type:')) continue;
    out.push(...s.split('\u0000').map((x) => x.replace(/%[-+ #0]*\d*(?:\.\d+)?[a-zA-Z]|%\d\$[a-z]/g, 'X').trim()));
  }
  return out;
}

/** Troff man page source as plain text: requests dropped, escapes read. */
function manText(src: string): string {
  return src
    .split('\n')
    .filter((l) => !l.startsWith('.\\"') && !l.startsWith('\'\\"'))
    .map((l) =>
      l.startsWith('.')
        ? /^\.(?:SH|SS|B|I|BR|IR|RB|BI|IB)\s/.test(l)
          ? l.replace(/^\.\w+\s+/, '').replace(/"/g, '')
          : l.startsWith('.PP') || l.startsWith('.P') || l.startsWith('.TP')
            ? ''
            : null
        : l,
    )
    .filter((l): l is string => l !== null)
    .join('\n')
    .replace(/\\f[BIRP]|\\f\(..|\\\||\\&|\\\^/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\(dq|\\\(lq|\\\(rq/g, '"')
    .replace(/\\\([a-z]{2}/g, '')
    .replace(/\\e/g, '\\')
    .replace(/\n{3,}/g, '\n\n');
}

/**
 * Translated manual pages (`/usr/share/man/{de,fr,es,ru,zh_CN}`: Debian's manpages-l10n and the
 * packages' own translations, GPL and others) and Vim's tutor in six languages (Vim licence):
 * prose full of instructions to a reader, in the languages the detector reads.
 */
export function localDocs(): Doc[] {
  const docs: Doc[] = [];
  const dirs: Record<string, Lang> = { de: 'de', fr: 'fr', es: 'es', ru: 'ru', zh_CN: 'zh' };
  for (const [dir, lang] of Object.entries(dirs)) {
    const files: string[] = [];
    walk(`/usr/share/man/${dir}`, (n) => n.endsWith('.gz'), files, 1000);
    // without Debian's manpages-l10n (whose pages include ls(1)) the corpus reads only a few packages'
    // own pages, a quarter as many, and every figure moves
    if (!existsSync(`/usr/share/man/${dir}/man1/ls.1.gz`))
      console.error(
        `corpus: /usr/share/man/${dir} lacks the translated manual pages the shipped weights were trained with: apt-get install manpages-de manpages-fr manpages-es manpages-ru manpages-zh (docs/injection.md, Retraining)`,
      );
    for (const f of files) {
      let text: string;
      try {
        text = manText(gunzipSync(readFileSync(f)).toString('utf8'));
      } catch {
        continue;
      }
      for (const c of chunks(text, 1500)) {
        docs.push({ text: c, lang, source: 'manpage', key: f });
      }
    }
  }
  const tutors: Record<string, Lang> = { 'tutor.utf-8': 'en', 'tutor.de.utf-8': 'de', 'tutor.fr.utf-8': 'fr', 'tutor.es.utf-8': 'es', 'tutor.ru.utf-8': 'ru', 'tutor.zh_cn.utf-8': 'zh' };
  for (const base of ['/usr/share/vim/vim90/tutor', '/usr/share/vim/vim91/tutor']) {
    if (!existsSync(base)) continue;
    for (const [name, lang] of Object.entries(tutors)) {
      const f = join(base, name === 'tutor.utf-8' ? 'tutor' : name);
      if (!existsSync(f)) continue;
      for (const c of chunks(readFileSync(f, 'utf8'), 1200)) {
        docs.push({ text: c, lang, source: 'manpage', key: name });
      }
    }
  }
  return docs;
}
