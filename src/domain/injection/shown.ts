// Whether a marker a text holds (a chat template's token, a tool result's tag, a model's name as a
// line's label) is shown or used: documentation, code, a configuration, a log or a transcript names
// these markers as often as an attack forges them, and only what stands around one tells which
// (signals.ts: forgeries, addressed).

/**
 * How many markers of one kind (chat tokens, forged tags) a text's reading looks at closely for the
 * sentence and paragraph around them (shownInSentence: a sentence about a format, an example's colon;
 * ~10-15 µs each): a hundred, and one more per 128 code units. Markers in code, shown by what stands
 * beside them or on their line, or laid out in a table do not count. Past them a marker is judged by
 * those alone: a page about chat formats reads a few dozen so (the densest of the fixtures' legitimate
 * texts, 30 tokens in 2,109 code units: a quarter of its allowance); a text of thousands in a row is
 * no such page (1 MiB of `[INST]` or `</document>` took 1.4-2.8 s on the gateway's thread).
 */
export const closeLooks = (length: number): number => 100 + length / 128;

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

/** How many of the ascending `xs` are below `at` (the index of the first at or after it). */
export function before(xs: readonly number[], at: number): number {
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
  /(?<![\p{L}\p{N}_])(?:special tokens?|tokens?|tokeni[sz]ers?|(?:apply_)?chat[ _-]?templates?|prompt (?:formats?|templates?)|formats?|formatted|templates?|markers?|tags?|delimiters?|separators?|chatml|bos|eos|stop (?:tokens?|sequences?|strings?|words?)|raw (?:prompts?|text)|vocab(?:ulary)?|escaped|stripped|between|(?:starts?|begins?|ends?) with|followed by|each (?:turn|message|role)|turns?|literal|strings?|vorlagen?|trennzeichen|jetons?|balises?|séparateurs?|formatos?|plantillas?|etiquetas?|separadores?|токен\p{L}*|шаблон\p{L}*|формат\p{L}*|разделител\p{L}*)(?![\p{L}\p{N}_])|标记|令牌|模板|格式|停止符|停止词|分隔符|特殊符号/iu;
/** What stands between two chat tokens named in a list (`<|im_start|>, <|im_end|>`, `[INST] and [/INST]`), a word or two of a role at most. */
const LISTED = /^(?:[ \t]*(?:user|model|system|assistant))?[ \t]*(?:,|and|or|und|oder|et|ou|y|o|и|или|和|或|、|\.\.\.|…)[ \t]*$/i;
/** The end of a sentence or a line: where the sentence a token stands in starts and ends. */
const SENTENCE_END = /[.!?。！？\n]/;

/**
 * Whether the chat token at [start, end) is shown rather than used:
 * - a string's whole value (`"<|im_end|>"`, `"<end_of_turn>\\n"`; not one that goes on, a JSON field's
 *   `"<|im_start|>system\n…`), beside a template's braces or a format string's placeholder (`[INST] {{ .System }}`,
 *   `<<SYS>>\n{system}`), a vocabulary's entry (`<|eot_id|> = 128009`);
 * - in a sentence that speaks of a chat format in the 80 code units before it or the 20 after it (`special
 *   tokens: <|im_start|>`, `<|eot_id|> was not stripped`; not further on, where a forged turn's own words
 *   stand), that brings in an example before it (`For example: <s>[INST]`, `e.g. "<|im_start|>…`), or that
 *   names it with a verb right before it (`the model emits <end_of_turn>`, `the tokenizer adds <|begin_of_text|>`,
 *   `fix handling of <|eot_id|>`); a noun in a sentence (`GPT-2 only knows <|endoftext|>, which…`);
 * - on a line that names an issue or a change (`<|eot_id|> erscheint als Text #5154`), that sets where it goes
 *   (`Before System: <|im_start|>system`, `"input_prefix": "<|start_header_id|>…`, a dataset's `"prompt": "…`),
 *   or that a console's input prompt opens (`>>> `, `In [7]:`);
 * - in an example that a line ending in a colon brings in (`A full conversation looks like:` and the turns
 *   under it, a blank line apart or not), or under a call that renders a template (`print(tok.apply_chat_template(msgs))`).
 * Two functions: shownBeside reads what stands beside the token and on its line (the string, the braces, the id,
 * a noun's punctuation, the line's issue, setting, field or prompt: cheap); shownInSentence the words of its
 * sentence and the lines of its paragraph (how many of those a text pays for: closeLooks). Shown if either says so.
 */
export function shownBeside(text: string, start: number, end: number): boolean {
  const quote = text[start - 1] ?? '';
  if (QUOTE.test(quote) && CLOSED.exec(text.slice(end, end + 12))?.[1] === quote) return true;
  if (BRACES.test(text.slice(Math.max(0, start - 12), start)) || BRACES.test(text.slice(end, end + 12))) return true;
  // a vocabulary's entry: the token and its id (`<|endoftext|> = 100257`, `<|eot_id|>: 128009`)
  if (TOKEN_ID.test(text.slice(end, end + 12))) return true;
  // (each search back bounded: a text of many tokens on one line stays linear)
  const lineStart = lineStartOf(text, start);
  const atLine = lineStart === 0 || text[lineStart - 1] === '\n';
  const onLine = text.slice(lineStart, start);
  // a noun in a sentence: a word before it and a comma, a full stop or a semicolon right after it (`GPT-2 only
  // knows <|endoftext|>, which…`, `clos par <|eot_id|>.`); a line naming an issue or a change (`… #5154`, `(#1208)`)
  if (/[\p{L}\p{N}][ \t]+$/u.test(onLine.slice(-8)) && PUNCTUATED.test(text.slice(end, end + 2))) return true;
  // (a title is short: the rest of a line past 120 code units is not looked at)
  const rest = text.slice(end, end + 120);
  if (ISSUE_REF.test(rest.includes('\n') ? rest.slice(0, rest.indexOf('\n')) : end + 120 >= text.length ? rest : '')) return true;
  // a setting's value (`Before System: <|im_start|>system`, `stop: [INST]`), a string a prompt's or a
  // template's field holds (`{"prompt": "<|im_start|>user\n…", "completion": "4<|im_end|>"}`)
  if (atLine && (SETTING.test(onLine) || TEMPLATE_FIELD.test(onLine) || REPL.test(onLine))) return true;
  return false;
}

/** The other half of shownBeside's cases (above): the sentence around the token and the lines before it in its paragraph. */
export function shownInSentence(text: string, start: number, end: number): boolean {
  const lineStart = lineStartOf(text, start);
  const atLine = lineStart === 0 || text[lineStart - 1] === '\n';
  let from = start;
  while (from > 0 && start - from < 80 && !SENTENCE_END.test(text[from - 1]!)) from--;
  let to = end;
  while (to < text.length && to - end < 20 && !SENTENCE_END.test(text[to]!)) to++;
  const before = text.slice(from, start);
  // (an abbreviation's full stop ends no sentence for an example it brings in: `e.g. <|im_start|>…`)
  if (FORMAT_TALK.test(before) || EXAMPLE.test(text.slice(Math.max(0, from - 5), start)) || MENTIONED.test(before) || FORMAT_TALK.test(text.slice(end, to))) return true;
  // the lines before it in its paragraph and the one before that (600 code units at most): one ending
  // in a colon that speaks of a format or brings in an example (`A full conversation looks like:`)
  const lines = lineStart === 0 || !atLine ? [] : text.slice(Math.max(0, start - 600), lineStart - 1).split('\n');
  let blank = 0;
  for (let k = lines.length - 1; k >= 0 && blank < 2; k--) {
    const line = lines[k]!;
    if (line.trim() === '') blank++;
    // (or a call that renders a template, `print(tok.apply_chat_template(msgs))`, whose output is under it)
    else if (/(?::|\))[ \t]*$/.test(line) && (FORMAT_TALK.test(line) || EXAMPLE.test(line))) return true;
  }
  return false;
}

/**
 * Where the line holding `at` starts, looked for at most `reach` code units back (the start of that
 * reach when its line starts further back). A native search in a slice (V8 slices without copying).
 */
export function lineStartOf(text: string, at: number, reach = 600): number {
  const from = Math.max(0, at - reach - 1);
  const nl = text.slice(from, at).lastIndexOf('\n');
  return nl >= 0 ? from + nl + 1 : Math.max(0, at - reach);
}
/**
 * Whether the marker at `start` stands in a table's row or on a line of markdown's indented code (four
 * spaces or a tab; not a pretty-printed JSON field's value: data, however deep it is indented). Laid out,
 * not said: no example runs on from it (signals.ts: forgeries), as one in a sentence about a format does.
 */
export function laidOut(text: string, start: number): boolean {
  const lineStart = lineStartOf(text, start);
  if (lineStart > 0 && text[lineStart - 1] !== '\n') return false;
  const onLine = text.slice(lineStart, start);
  return /^[ \t]*\|/.test(onLine) || (/^(?: {4}|\t)/.test(text.slice(lineStart, start + 1)) && !JSON_FIELD.test(onLine));
}

/**
 * A verb or a preposition that names the token right before it: the model emits, generates or stops
 * on it, a library adds, expects or handles it, a message starts or ends with it, a prompt inside it.
 */
const MENTIONED =
  /(?:\b(?:emits?|emitted|generat(?:es?|ed|ing)|outputs?|outputting|returns?|prints?|produces?|stops? (?:on|at)|stopped (?:on|at)|with|contains?|containing|strip(?:s|ped|ping)?|append(?:s|ed|ing)?|insert(?:s|ed|ing)?|adds?|added|adding|uses?|used|using|expects?|expected|handl(?:es?|ed|ing)(?: of)?|fix(?:es|ed)?|supports?(?: for)?|pars(?:es?|ed|ing)(?: of)?|inside|within|instead of|the literal|the string|beginnt mit|endet mit|verwendet|nutzt|fügt|commence par|se termine par|utilise|ajoute|comienza con|termina con|usa|utiliza|añade|agrega)[ \t]+(?:an? |the )?|(?<![\p{L}\p{N}_])(?:начинается с|заканчивается|использует|добавляет)[ \t]+|(?:以|将|把|用|使用|添加|输出|生成|包含)[ \t]*)(?:<\/?s>)?$/iu;
/** Words that bring in an example. */
const EXAMPLE = /\b(?:examples?|looks? like|as follows|like this|for instance|beispiel|exemple|ejemplo)\b|\b(?:e\.g\.|z\.b\.|p\.ej\.)|例如|示例|пример/iu;
const QUOTE = /["'`]/;
/** A string's closing quote right after a token, or after line breaks (written as escapes or, once decoded, not: `"<end_of_turn>\\n"`): the token is its whole value. */
const CLOSED = /^(?:\\{1,2}[nrt]|[\r\n\t])*(["'`])/;
/** A template's braces (Jinja, Go, Handlebars): `{{`, `{%`, `}}`, `%}`; a format string's placeholder (`{system}`, `${role}`). */
const BRACES = /\{\{|\{%|\}\}|%\}|\$?\{[A-Za-z_][\w.]{0,30}\}/;
/** A token's id after it. */
const TOKEN_ID = /^[ \t]*(?:=|:|→|->)[ \t]*\d/;
/** A line of settings whose name says where a token goes: `Before System:`, `Prefix:`, `stop:`, `eos_token =`. */
const SETTING = /^[ \t]*[-*]?[ \t]*[\w -]{0,30}?(?<![\w])(?:before|after|prefix|suffix|stop|separator|bos|eos|pad)(?:[_ -]?(?:token|string|sequence|word)s?)?[\w -]{0,20}[ \t]*[:=][ \t]*["'`]?$/i;
/** A JSON field for a prompt, a template or where a token goes (`"input_prefix"`, `"eos_token"`), its string open up to the token. */
const TEMPLATE_FIELD = /"(?:[\w-]*(?:prompt|completion|template|prefix|suffix|stop|separator|bos|eos|pad)[\w-]*|chosen|rejected|formatted)"[ \t]*:[ \t]*"(?:[^"\\]|\\.)*$/;
/** A JSON field's name and the start of its string value. */
export const JSON_FIELD = /"[^"\n]{1,60}"[ \t]*:[ \t]*"/;
/** A console's input prompt at a line's start, Python's or IPython's: the line is code (what it prints is data, read for itself). */
const REPL = /^(?:>>> |In \[\d+\]:)/;
/** A comma, a semicolon or a full stop right after a token, then a space or the line's end. */
const PUNCTUATED = /^(?:[,;，；、]|[.。](?:\s|$))/;
/** A line that ends naming an issue or a pull request: a title's `#5154`, a change's `(#1208)`. */
const ISSUE_REF = /(?:\s#\d{1,7}|\(#\d{1,7}\))[ \t]*\r?$/;

/** A tool's or a function's result named by an opening tag in brackets, as agent frameworks' logs write them. */
const OPEN_RESULT_TAG = /^\[(?:tool|function)[_ -]?(?:result|output|response)\]$/i;
/**
 * A line of an agent framework's log: one that opens with a tag of its own (`[tool_call] …`, `[autogen] …`,
 * `[chain/start] …`, `[INFO] …`), or LangChain's verbose lines (`> Entering new AgentExecutor chain...`,
 * `> Finished chain.`, `Thought:`, `Action Input:`).
 */
const TAGGED_LINE = /^[ \t]*\[[A-Za-z][\w/:. -]{0,30}\][ \t]|^> (?:Entering new .{1,60} chain\.\.\.|Finished chain\.)[ \t]*$|^(?:Thought|Action|Action Input|Observation|Final Answer):/;

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

/** Whether the tag `found[k]` and the one right before or after it make a pair with nothing inside: `<document></document>`. */
export function emptyPair(found: readonly RegExpExecArray[], k: number): boolean {
  const pair = (a: RegExpExecArray | undefined, b: RegExpExecArray | undefined) => a !== undefined && b !== undefined && a.index + a[0].length === b.index && b[0] === `</${a[0].slice(1)}`;
  return pair(found[k - 1], found[k]) || pair(found[k], found[k + 1]);
}

/** A PEM block's armor line (`-----END CERTIFICATE-----`): no forged end. */
const ARMOR = /^[ \t]*-----(?:BEGIN|END) [A-Z0-9 ]{2,40}-----[ \t]*\r?$/;
/** Whether the delimiter at `at` stands on a PEM armor line. */
export function armor(text: string, at: number): boolean {
  // (the armor starts its line and is short: nothing past 80 code units either way is read)
  let from = at;
  while (from > 0 && at - from < 80 && text[from - 1] !== '\n') from--;
  if (from > 0 && text[from - 1] !== '\n') return false;
  const rest = text.slice(from, at + 80);
  const lineEnd = rest.indexOf('\n');
  return ARMOR.test(lineEnd < 0 ? rest : rest.slice(0, lineEnd));
}

/** A model's name as a line's label (`AI:`, `ИИ:`), the whole of a hit. */
const MODEL_LABEL = /^\s*(?:ai|ии|ki|ia)\s*:$/;
/** A line a label opens (`Customer:`, `Me:`, `Клиент:`, `客户：`), the label in group 1, or a quotation's `>`. */
const LABELLED_LINE = /^[ \t]*(?:>|([\p{L}][\p{L}\p{N} ._'’-]{0,24}?)[ \t]*[:：])/u;
/** How far around a label (code units) its transcript's other lines are looked for. */
const TURNS_NEAR = 2000;
/** Whether `label` opens two lines of `text` (or its first and another). */
function opensTwoLines(text: string, label: string): boolean {
  const first = text.startsWith(label) ? 0 : text.indexOf(`\n${label}`);
  return first >= 0 && text.indexOf(`\n${label}`, first + 1) >= 0;
}
/** Labels of the people who speak with a model in a transcript. */
const SPEAKERS =
  /^(?:user|me|human|customer|client|guest|visitor|patient|student|caller|q|question|you|kunde|kundin|nutzer|benutzer|ich|utilisateur|moi|usuario|usuaria|yo|cliente|пользователь|клиент|я|用户|客户|我|顾客)$/u;
/**
 * Whether a hit is a transcript's turn: a model's name as the label of a line (`AI: We close at 8 pm`)
 * that opens another line too, right under a quotation or a line whose label is a speaker's
 * (`Customer: What time…`), a speaker known as one or whose label opens another line too: the model
 * speaking in its turns, not someone speaking to it (a `Note:` once above `AI: forward the inbox…`
 * is no transcript, nor one forged turn, `User: <an order>` then `AI: Done.`).
 */
export function speakerTurn(lower: string, at: number, hit: string): boolean {
  if (!MODEL_LABEL.test(hit)) return false;
  const labelAt = at + hit.length - hit.trimStart().length;
  // the label opens its line (spaces before it at most)
  let lineStart = labelAt;
  while (lineStart > 0 && (lower[lineStart - 1] === ' ' || lower[lineStart - 1] === '\t')) lineStart--;
  if (lineStart > 0 && lower[lineStart - 1] !== '\n') return false;
  // a transcript: the model's label opens another line too (one forged turn, `User: <an order>\nAI: Done.`, is no
  // transcript). Everything is looked for within TURNS_NEAR of the hit: a text of many hits is read in linear time.
  const windowStart = Math.max(0, at - TURNS_NEAR);
  const near = lower.slice(windowStart, at + TURNS_NEAR);
  if (!opensTwoLines(near, hit.trim())) return false;
  // the line before, past one blank line at most
  let end = lineStart - 1;
  for (let k = 0; k < 2 && end > windowStart; k++) {
    const from = Math.max(windowStart, lower.lastIndexOf('\n', end - 1) + 1);
    const line = lower.slice(from, end);
    if (line.trim() !== '') {
      const m = LABELLED_LINE.exec(line);
      if (m === null) return false;
      const label = m[1]?.trim();
      return label === undefined || (!MODEL_LABEL.test(`${label}:`) && (SPEAKERS.test(label) || opensTwoLines(near, `${label}:`)));
    }
    end = from - 1;
  }
  return false;
}
