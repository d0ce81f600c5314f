// Whether a marker a text holds (a chat template's token, a tool result's tag) is shown or used:
// documentation, code, a configuration or a log names these markers as often as an attack forges
// them, and only what stands around one tells which (signals.ts: forgeries).

/** For one text, whether a position is inside a fenced block or inline code: where documentation shows a template. */
export function codeReader(text: string): (at: number) => boolean {
  // read once per text, on the first ask: a search from the text's start (and from each line's) at
  // every match was quadratic in a text of many (256 KB of `[INST]`: 19 s on the gateway's thread).
  // Where each fence, backtick and line break stands, found by indexOf (a native search): a loop
  // over every code unit filling two tables per index was 13 % of the detector's profile on 1 MiB pieces.
  let fences: number[] | undefined; // where each ``` starts, as indexOf steps over them
  let ticks: number[] | undefined; // where each backtick stands
  let breaks: number[] | undefined; // where each line break stands
  return (at) => {
    fences ??= positions(text, '```', 3);
    if (before(fences, at) % 2 === 1) return true; // an odd number of fences before it: inside a block
    breaks ??= positions(text, '\n', 1);
    ticks ??= positions(text, '`', 1);
    // the line's start: after its last line break at or before `at` (a break at `at` is no line it is in)
    const lastBreak = before(breaks, at + 1) - 1;
    const from = lastBreak < 0 ? 0 : breaks[lastBreak]! + 1;
    // an odd number of backticks between the line's start and it: inside inline code
    return from <= at && (before(ticks, at) - before(ticks, from)) % 2 === 1;
  };
}

/** Where `needle` stands in `text`, in order, each search going on `step` past the last find. */
function positions(text: string, needle: string, step: number): number[] {
  const out: number[] = [];
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + step)) out.push(i);
  return out;
}

/** How many of the ascending `xs` are below `at`. */
function before(xs: number[], at: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Words of writing about a chat format (a model's docs, a tokenizer's, release notes): a chat token
// in a sentence of them is shown, not used (`ChatML wraps each message in special tokens:
// <|im_start|>system…`, `between [INST] and [/INST]`), like one in code.
const FORMAT_TALK =
  /\b(?:special tokens?|tokens?|tokeni[sz]ers?|chat[ _-]?templates?|prompt (?:formats?|templates?)|formats?|formatted|templates?|markers?|tags?|delimiters?|chatml|bos|eos|stop (?:tokens?|sequences?|words?)|vocab(?:ulary)?|escaped|stripped|between|(?:starts?|begins?|ends?) with|followed by|each (?:turn|message|role)|turns?|literal|strings?|vorlagen?|jetons?|balises?|formatos?|plantillas?|etiquetas?|токен\p{L}*|шаблон\p{L}*|формат\p{L}*)(?![\p{L}\p{N}_])|标记|令牌|模板|格式/iu;
/** What stands between two chat tokens named in a list (`<|im_start|>, <|im_end|>`, `[INST] and [/INST]`), a word or two of a role at most. */
const LISTED = /^(?:[ \t]*(?:user|model|system|assistant))?[ \t]*(?:,|and|or|und|oder|et|ou|y|o|и|или|和|或|、)[ \t]*$/i;
/** The end of a sentence or a line: where the sentence a token stands in starts and ends. */
const SENTENCE_END = /[.!?。！？\n]/;

/**
 * Whether the chat token at [start, end) is shown rather than used: a string's whole value
 * (`"<|im_end|>"`, `'<|im_start|>' + message['role']`; not one that goes on, a JSON field's
 * `"<|im_start|>system\n…`) or beside a template's braces (`[INST] {{ .System }}`);
 * its sentence speaks of a chat format in the 80 code units before it or the 20 after it (`special
 * tokens: <|im_start|>`, `<|eot_id|> was not stripped`; not further on, where a forged turn's own words
 * stand), brings in an example before it (`For example: <s>[INST]`) or names it with a verb right before
 * it (`the model emits <end_of_turn>`, `stop on <|im_end|>`, `messages with <|endoftext|>`); it stands in a table's row or on a line of markdown's indented code; or it is in an example
 * a line ending in a colon brings in (`Zephyr formats the same conversation as:`, `A full conversation
 * looks like:` and the turns under it, a blank line apart or not).
 */
export function shown(text: string, start: number, end: number): boolean {
  if (QUOTE.test(text[start - 1] ?? '') && text[end] === text[start - 1]) return true;
  if (BRACES.test(text.slice(Math.max(0, start - 12), start)) || BRACES.test(text.slice(end, end + 12))) return true;
  let from = start;
  while (from > 0 && start - from < 80 && !SENTENCE_END.test(text[from - 1]!)) from--;
  let to = end;
  while (to < text.length && to - end < 20 && !SENTENCE_END.test(text[to]!)) to++;
  // (each search back bounded: a text of many tokens on one line stays linear)
  let lineStart = start;
  while (lineStart > 0 && start - lineStart < 600 && text[lineStart - 1] !== '\n') lineStart--;
  // a table's row, or a line of markdown's indented code (four spaces or a tab)
  const atLine = lineStart === 0 || text[lineStart - 1] === '\n';
  if (atLine && (/^[ \t]*\|/.test(text.slice(lineStart, start)) || /^(?: {4}|\t)/.test(text.slice(lineStart, start + 1)))) return true;
  const before = text.slice(from, start);
  if (FORMAT_TALK.test(before) || EXAMPLE.test(before) || MENTIONED.test(before) || FORMAT_TALK.test(text.slice(end, to))) return true;
  // the lines before it in its paragraph and the one before that (600 code units at most): one ending
  // in a colon that speaks of a format or brings in an example (`A full conversation looks like:`)
  const lines = lineStart === 0 || !atLine ? [] : text.slice(Math.max(0, start - 600), lineStart - 1).split('\n');
  let blank = 0;
  for (let k = lines.length - 1; k >= 0 && blank < 2; k--) {
    const line = lines[k]!;
    if (line.trim() === '') blank++;
    else if (/:[ \t]*$/.test(line) && (FORMAT_TALK.test(line) || EXAMPLE.test(line))) return true;
  }
  return false;
}
/** A verb that names the token right before it: the model emits, generates or stops on it, a message with it. */
const MENTIONED =
  /\b(?:emits?|emitted|generat(?:es?|ed|ing)|outputs?|outputting|returns?|prints?|produces?|stops? (?:on|at)|stopped (?:on|at)|with|contains?|containing|strip(?:s|ped|ping)?|append(?:s|ed|ing)?|insert(?:s|ed|ing)?|the literal|the string)[ \t]+(?:an? |the )?$/i;
/** Words that bring in an example. */
const EXAMPLE = /\b(?:examples?|e\.g\.|looks? like|as follows|like this|for instance|beispiel|exemple|ejemplo)\b|例如|示例|пример/iu;
const QUOTE = /["'`]/;
/** A template's braces (Jinja, Go, Handlebars): `{{`, `{%`, `}}`, `%}`. */
const BRACES = /\{\{|\{%|\}\}|%\}/;

/** A tool's or a function's result named by an opening tag in brackets, as agent frameworks' logs write them. */
const OPEN_RESULT_TAG = /^\[(?:tool|function)[_ -]?(?:result|output|response)\]$/i;
/** A line that opens with a tag of its own (`[tool_call] …`, `[autogen] …`, `[chain/start] …`, `[INFO] …`). */
const TAGGED_LINE = /^[ \t]*\[[A-Za-z][\w/:. -]{0,30}\][ \t]/;

/**
 * Whether the delimiter `tag` at [start, end) is a log's own: an opening result tag in brackets at its
 * line's start, with data after it on the line (a status, a count, JSON: `[tool_result] 200 OK`,
 * `[tool_result] {"order_id": 5512}`) or another line of tags within two lines of it. A closing tag
 * (`[/tool_result]`), an end (`[END OF TOOL OUTPUT]`) and the tags of the system stay forged ends.
 */
export function logTag(text: string, tag: string, start: number, end: number): boolean {
  if (!OPEN_RESULT_TAG.test(tag)) return false;
  let lineStart = start;
  while (lineStart > 0 && start - lineStart < 200 && text[lineStart - 1] !== '\n') lineStart--;
  if (text.slice(lineStart, start).trim() !== '' || (lineStart > 0 && text[lineStart - 1] !== '\n')) return false;
  if (/^[ \t]*[{["0-9]/.test(text.slice(end, end + 4))) return true;
  // the two lines before it and the two after it (bounded: 400 code units each way)
  const around = [
    ...text
      .slice(Math.max(0, lineStart - 400), Math.max(0, lineStart - 1))
      .split('\n')
      .slice(-2),
    ...text
      .slice(end, end + 400)
      .split('\n')
      .slice(1, 3),
  ];
  return around.some((line) => TAGGED_LINE.test(line) && !OPEN_RESULT_TAG.test(line.trim().split(/\s/)[0] ?? ''));
}

/** Whether the chat token `tokens[k]` is named in a list with the one before or after it (`<start_of_turn>user and <end_of_turn>`). */
export function namedInList(text: string, tokens: readonly RegExpExecArray[], k: number): boolean {
  const end = (m: RegExpExecArray) => m.index + m[0].length;
  return (k > 0 && LISTED.test(text.slice(end(tokens[k - 1]!), tokens[k]!.index))) || (k + 1 < tokens.length && LISTED.test(text.slice(end(tokens[k]!), tokens[k + 1]!.index)));
}
