// `iron-cage redact` and `iron-cage scan`: the PII engine on stdin/stdout. Input that cannot
// be processed (not UTF-8, binary, a line too long to hold) ends with one clear line on
// stderr and exit code 2, never a stack trace; memory stays bounded either way.
import { fstatSync } from 'node:fs';
import { IronCageError } from '../core/errors.js';
import { createStreamRedactor, LATIN_NEVER_FOLDS, scannerFor, type Detection, type RedactOptions, type ScanOptions } from '../domain/pii/index.js';
import { detectInjection } from '../domain/injection/index.js';

export interface SafetyCommandOptions extends RedactOptions {
  /** Where messages go; process.stderr by default. */
  stderr?: NodeJS.WritableStream;
}

export interface ScanCommandOptions extends ScanOptions {
  /** One JSON object per input line instead of readable lines. */
  json: boolean;
  /** Read each line for prompt injection (src/domain/injection) instead of PII. */
  injection?: boolean;
  stderr?: NodeJS.WritableStream;
  /** Longest line scan will hold, in UTF-16 code units; longer input is refused. */
  maxLineLength?: number;
}

const DEFAULT_MAX_LINE = 32 * 1024 * 1024;

/** The reason input could not be processed; reported as one line, exit code 2. */
class InputError extends Error {}

/** Decodes UTF-8 chunk by chunk, refusing invalid sequences and NUL bytes (binary data). */
class Utf8Input {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private bytes = 0;

  decode(chunk: Buffer | string): string {
    if (typeof chunk === 'string') {
      if (chunk.includes('\0')) throw this.nul();
      return chunk;
    }
    const text = this.decodeBytes(chunk, true);
    this.bytes += chunk.length;
    // In valid UTF-8 a 0 byte is U+0000 and nothing else: looked for in the bytes (memchr), not
    // in the decoded text (a third of a millisecond per 0.6 MB, two-byte text).
    if (chunk.indexOf(0) !== -1) throw this.nul();
    return text;
  }

  private nul(): InputError {
    return new InputError(`input contains a NUL byte near byte ${this.bytes}: it looks binary, not text`);
  }

  finish(): string {
    return this.decodeBytes(undefined, false);
  }

  private decodeBytes(chunk: Buffer | undefined, stream: boolean): string {
    try {
      return this.decoder.decode(chunk, { stream });
    } catch {
      throw new InputError(`input is not valid UTF-8 (at or after byte ${this.bytes}): only text can be processed`);
    }
  }
}

function write(out: NodeJS.WritableStream, text: string | Buffer): Promise<void> {
  if (text.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const flushed = out.write(text, (err) => (err ? reject(err) : undefined));
    if (flushed) resolve();
    else out.once('drain', resolve);
  });
}

/** Runs a command body with every failure turned into a message and an exit code. */
async function guarded(command: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, stderr: NodeJS.WritableStream, body: () => Promise<number>): Promise<number> {
  // A closed pipe (`| head`) must not surface as an unhandled 'error' event.
  const swallow = () => undefined;
  output.on('error', swallow);
  try {
    // Node reads a folder given as stdin (`< /etc`) as no input at all: said, not answered as empty.
    const fd = (input as { fd?: unknown }).fd;
    if (typeof fd === 'number' && fstatSync(fd).isDirectory()) throw new InputError(`input is a directory, not text (stdin): give a file, e.g. iron-cage ${command} < notes.txt`);
    return await body();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EPIPE') return 0;
    const known = err instanceof InputError || err instanceof IronCageError;
    stderr.write(`iron-cage ${command}: ${known ? e.message : `cannot process input: ${e.message ?? String(err)}`}\n`);
    return 2;
  } finally {
    output.removeListener('error', swallow);
  }
}

/**
 * stdin → stdout with PII replaced. Streams: text is written as soon as it is final (at the
 * latest a few hundred characters later), so lines of any length pass in bounded memory.
 * Under a `block` policy the first blocking finding stops the output: exit code 1.
 */
export async function runRedact(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, opts: SafetyCommandOptions = {}): Promise<number> {
  const stderr = opts.stderr ?? process.stderr;
  return guarded('redact', input, output, stderr, async () => {
    const redactor = createStreamRedactor({ ...opts, retainDetections: false });
    const decoder = new Utf8Input();
    const blocked = () => {
      const d = redactor.blocked;
      if (d === null) return false;
      stderr.write(`iron-cage redact: stopped: ${d.type} at offset ${d.start} and the safety mode for ${d.type} is block\n`);
      return true;
    };
    for await (const chunk of input) {
      const out = redactor.push(decoder.decode(chunk as Buffer | string));
      if (blocked()) return 1;
      await write(output, out);
    }
    const out = redactor.push(decoder.finish()) + redactor.end();
    if (blocked()) return 1;
    await write(output, out);
    return 0;
  });
}

/**
 * One result per input line. With `json`, `{"spans":[{"start","end","type","risk"}]}` per
 * line (offsets in UTF-16 code units within the line); a line that is a JSON object with a
 * string `text` is scanned on that text and its `id` echoed. Without `json`, one readable
 * line per finding: `3:8-20 EMAIL HIGH`.
 */
export async function runScan(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, opts: ScanCommandOptions): Promise<number> {
  const stderr = opts.stderr ?? process.stderr;
  const maxLine = opts.maxLineLength ?? DEFAULT_MAX_LINE;
  return guarded('scan', input, output, stderr, async () => {
    const scanner = scannerFor(opts);
    const decoder = new Utf8Input();
    let pieces: string[] = [];
    let held = 0;
    let lineNo = 0;

    // The lines an input chunk completes are scanned together (scanEach: one pass over their
    // texts) and their results written together: one write (and one wait for the pipe) per
    // chunk, not per line, which is what records of a few hundred bytes cost most.
    const json = opts.json ? new JsonResults() : null;
    let ids: Array<string | undefined> = [];
    let texts: string[] = [];
    let folded: boolean[] = [];
    const emit = (line: string) => {
      const input = lineInput(line.endsWith('\r') ? line.slice(0, -1) : line);
      ids.push(input.id);
      texts.push(input.text);
      folded.push(input.folded === true);
    };
    const flush = async () => {
      if (opts.injection) return flushInjection();
      const found = scanner.scanEach(texts, folded);
      let results = '';
      for (let k = 0; k < found.length; k++) {
        lineNo++;
        const id = ids[k];
        if (json !== null) json.line(id, found[k]!);
        else {
          const where = id === undefined ? `${lineNo}` : `${lineNo} (id ${id})`;
          for (const d of found[k]!) results += `${where}:${d.start}-${d.end} ${d.type} ${d.risk}\n`;
        }
      }
      ids = [];
      texts = [];
      folded = [];
      await write(output, json !== null ? json.take() : results);
    };

    // `--injection`: each line's verdict, `{"id", "injection": {"score", "flagged", "signals"}}`
    // (the same reader the gateway's injection guard uses).
    const flushInjection = async () => {
      let results = '';
      for (let k = 0; k < texts.length; k++) {
        lineNo++;
        const id = ids[k];
        const r = detectInjection(texts[k]!);
        const score = Math.round(r.score * 1000) / 1000;
        if (json !== null) results += `{${id === undefined ? '' : `"id":${id},`}"injection":${JSON.stringify({ score, flagged: r.flagged, signals: r.signals })}}\n`;
        else if (r.flagged) results += `${id === undefined ? `${lineNo}` : `${lineNo} (id ${id})`}: injection ${score} ${r.signals.join(',')}\n`;
      }
      ids = [];
      texts = [];
      folded = [];
      await write(output, results);
    };

    const take = async (text: string) => {
      let from = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', from)) {
        held += nl - from;
        if (held > maxLine) throw tooLong(lineNo + texts.length + 1, maxLine);
        let line = text.slice(from, nl);
        if (pieces.length > 0) {
          pieces.push(line);
          line = pieces.join('');
          pieces = [];
        }
        held = 0;
        from = nl + 1;
        emit(line);
      }
      if (from < text.length) {
        pieces.push(text.slice(from));
        held += text.length - from;
        if (held > maxLine) throw tooLong(lineNo + texts.length + 1, maxLine);
      }
      await flush();
    };

    for await (const chunk of input) await take(decoder.decode(chunk as Buffer | string));
    await take(decoder.finish());
    if (pieces.length > 0) emit(pieces.join('')); // last line without a newline
    await flush();
    return 0;
  });
}

/**
 * `scan --json`'s result lines, written as UTF-8 bytes: what JSON.stringify({id, spans}) writes,
 * without an object per span or a string to encode (building the text and encoding it took about
 * a millisecond per 0.6 MB of records). Types and risks are plain words and offsets integers, so
 * only the id (already JSON) may need more than ASCII.
 */
class JsonResults {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;

  line(id: string | undefined, found: readonly Detection[]): void {
    if (id === undefined) this.room(16);
    else this.room(32 + 3 * id.length);
    let buf = this.buf;
    let at = this.at;
    if (id === undefined) at = ascii(buf, at, '{"spans":[');
    else {
      at = ascii(buf, at, '{"id":');
      at = isAscii(id) ? ascii(buf, at, id) : at + buf.write(id, at, 'utf8');
      at = ascii(buf, at, ',"spans":[');
    }
    for (let k = 0; k < found.length; k++) {
      const d = found[k]!;
      // Two offsets of at most 16 digits, the words and the punctuation around them.
      const bytes = 80 + d.type.length + d.risk.length;
      if (at + bytes > buf.length) {
        this.at = at;
        this.room(bytes);
        buf = this.buf;
      }
      at = ascii(buf, at, k === 0 ? '{"start":' : ',{"start":');
      at = int(buf, at, d.start);
      at = ascii(buf, at, ',"end":');
      at = int(buf, at, d.end);
      at = ascii(buf, at, ',"type":"');
      at = ascii(buf, at, d.type);
      at = ascii(buf, at, '","risk":"');
      at = ascii(buf, at, d.risk);
      at = ascii(buf, at, '"}');
    }
    this.at = at;
    this.room(4);
    this.at = ascii(this.buf, this.at, ']}\n');
  }

  /** The lines written since the last call, as a buffer of their own (the stream may hold it). */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.at));
    this.at = 0;
    return out;
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + bytes));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}

/** Writes an ASCII string at `at`; returns where it ends. */
function ascii(buf: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
  return at;
}

/** Whether a string is all ASCII (an id's digits or plain word: cheaper written by `ascii` than encoded). */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Writes a non-negative integer's digits at `at`; returns where they end. */
function int(buf: Buffer, at: number, n: number): number {
  let end = at + 1;
  if (n < 0x80000000) {
    // Every offset in practice: small-integer division, not floating point.
    for (let v = n; v >= 10; v = (v / 10) | 0) end++;
    let v = n;
    for (let i = end - 1; i >= at; i--) {
      const q = (v / 10) | 0;
      buf[i] = 48 + v - 10 * q;
      v = q;
    }
    return end;
  }
  for (let v = n; v >= 10; v = Math.floor(v / 10)) end++;
  let v = n;
  for (let i = end - 1; i >= at; i--) {
    buf[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return end;
}

function tooLong(lineNo: number, max: number): InputError {
  return new InputError(`line ${lineNo} is longer than ${max} characters; scan reads one line at a time (use redact for unbroken text)`);
}

// `{"id":…,"text":"…"}` as JSON.stringify writes it, when neither value needs an escape and the
// id is a string or an integer JSON.parse reads exactly (at most 15 digits, no -0): the values
// are read off the line, which JSON.parse would read the same, without building an object.
// Read in two steps, one pass over the text either way: the text's first characters that
// cannot fold (printable ASCII and the Latin letters and signs normalize.ts reads as they are;
// most records are all such, and the engine then need not look), then, if the record does not
// end there, the rest of a plain text (anything but a quote, a backslash or a control). The
// closing `"}` is optional in the first step, so a text that holds something to fold costs no
// backtracking over what was read.
const PLAIN_RECORD_START = new RegExp(`^\\{"id":(?:"([^"\\\\\\u0000-\\u001f]*)"|(0|-?[1-9][0-9]{0,14})),"text":"([\\x20\\x21\\x23-\\x5b\\x5d-\\x7e${LATIN_NEVER_FOLDS}]*)("\\}$)?`);
const PLAIN_TEXT_REST = /[^"\\\u0000-\u001f]*"\}$/y;

/**
 * `{"id": …, "text": "…"}` lines are scanned on their text; any other line as it is. `id` is
 * the id as JSON.stringify writes it (an integer id of a plain record is its digits as written).
 */
function lineInput(line: string): { id?: string; text: string; folded?: boolean } {
  // A line with a backslash has an escape (or is no plain record): the regex is not tried on it.
  if (line.charCodeAt(0) === 123 && line.indexOf('\\') === -1) {
    const plain = PLAIN_RECORD_START.exec(line);
    if (plain !== null) {
      const id = plain[2] ?? JSON.stringify(plain[1]);
      if (plain[4] !== undefined) return { id, text: plain[3]!, folded: true };
      PLAIN_TEXT_REST.lastIndex = plain[0].length;
      if (PLAIN_TEXT_REST.test(line)) return { id, text: line.slice(plain[0].length - plain[3]!.length, -2) };
    }
  }
  if (!line.trimStart().startsWith('{')) return { text: line };
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && typeof (value as { text?: unknown }).text === 'string') {
      const { id, text } = value as { id?: unknown; text: string };
      return { id: id === undefined ? undefined : JSON.stringify(id), text };
    }
  } catch {
    // Not JSON after all: scan the line as written.
  }
  return { text: line };
}
