// Signals that need no model: phrases addressed to the model inside data, and forgeries of
// the markers a chat template or an agent framework puts around turns and tool results. Each
// regex is tried only where one of its matches can start (starts.ts: one scan of the text for
// the words its alternatives begin with); they are written with bounded gaps only, so no try
// backtracks far.
import { ADDRESSED, MODEL_MUST, OVERRIDE, OWN, WEAKLY_ADDRESSED } from './addressed.js';
import { armor, before, closeLooks, codeReader, emptyPair, JSON_FIELD, laidOut, lineStartOf, logTag, namedInList, shownBeside, shownInSentence, speakerTurn } from './shown.js';
import { Gate, type Starts } from './starts.js';
import type { Folded } from './fold.js';

export interface Hit {
  signal: string;
  start: number;
  end: number;
}

// Special tokens of chat templates: never in data a tool returns, except documentation of them.
// Also a heading that names the system message as a variable and is followed by text
// (`###(system_message) …`, AgentDojo's attack, at a line's start or inside a field's value): a
// document's heading is words (`### (System Message)`); a template's variables are written in other
// brackets (`{{system_prompt}}`, `[[system_message]]`) and are no finding.
const ROLE_TOKENS =
  /#{1,6}\((?:[Ss]ystem|SYSTEM|[Dd]eveloper|DEVELOPER)_(?:[Mm]essage|MESSAGE|[Pp]rompt|PROMPT|[Ii]nstructions?|INSTRUCTIONS?)\)(?=[ \t]*[^\s])|<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|end_of_turn|start_of_turn|tool|ipython)\|>|\[\/?INST\]|<<\/?SYS>>|<\/?(?:start_of_turn|end_of_turn)>|<(?:start_of_turn|end_of_turn)>(?:user|model)/g;
// Turn headers written as text: `### System:`, `System:` on a line of its own, or the
// `Human:` / `Assistant:` pair of a transcript forged inside data.
const ROLE_HEADERS =
  /^[ \t]{0,3}(?:#{1,4}|\*\*|\[)[ \t]*(?:system|instruction|instructions|system prompt|system message|system note|system override|assistant|response|admin|developer)[ \t]*(?:\*\*|\])?[ \t]*:?[ \t]*(?:\*\*)?[ \t]*$|^[ \t]{0,3}\[?(?:system|system prompt|system message|system note|system override|admin|administrator|developer|developer message)\]?[ \t]*:[ \t]*(?:you are|you're|you must|you will|ignore|disregard|forget|override|new|from now|the assistant|assistant|always|never|important|attention|update|all previous|previous|do not|don't|focus|provide|respond|reply|answer|print|output|say|tell|include|only|instead|follow)\b/gim;
const TURN_PAIR = /(?:^|\n)[ \t]*(?:human|user)[ \t]*:[^\n]*\n(?:[^\n]*\n){0,6}?[ \t]*(?:assistant|ai)[ \t]*:/gi;
// Special tokens of a shape no data uses: `<|anything|>` outside code.
const ODD_TOKENS = /<\|[a-z][a-z0-9_]{2,30}\|>|<\/?(?:s|eos|bos|eot)>(?=\s*(?:<|\[|system|user|assistant|human))/gi;
// The end (or start) of a tool result, a function's output, the untrusted part or the system
// prompt, forged to step out of the data: nothing a tool returns says this of itself. So too a
// system or developer mode in tags (`<SYSTEM MODE>…<\SYSTEM_MODE>`, CyberSecEval's).
const STRONG_DELIMITERS =
  /<\/?(?:tool[_-]?results?|tool[_-]?response|tool[_-]?output|tool[_-]?call|tool[_-]?use|function[_-]?results?|function[_-]?response|function[_-]?output|function[_-]?call|search[_-]?results?|untrusted[\w-]*|external[_-]?(?:content|data)|system[_-]?(?:prompt|message|instructions?)?|admin[_-]?instructions?|user[_-]?(?:query|input|message|request)|assistant[_-]?(?:response|message)|observation|im_(?:start|end))>|\[\/?(?:tool[_ -]?(?:result|output|response)|function[_ -]?(?:result|output)|system|untrusted[\w -]*|end[_ -]of[_ -](?:tool[_ -]?output|data|input|context|document))\]|<[\\/]?(?:system|developer|admin)[ _-](?:mode|override)>|\b(?:end|begin|start) of (?:the )?(?:tool (?:output|result|response|call)|function (?:output|result)|system prompt|system message|user (?:input|query|message|request)|untrusted (?:content|data|text|input)|external (?:content|data)|retrieved (?:content|data|documents?)|search results?)\b/gi;
const DELIMITERS =
  /<\/?(?:instructions?|documents?|context|data|email|webpage)>|<\/?end[ _-]of[ _-](?:the[ _-])?(?:session|conversation|chat|turn|context|prompt|input|instructions|document|text|data)>|\b(?:end|begin|start) of (?:the )?(?:document|context|data|email|e-mail|message|web ?page|page|content|input|file|text|review|comment|transcript)\b|^[ \t]*(?:[-=*#]{3,}|<{3,}|>{3,})[ \t]*(?:end|system|admin|instructions?|new instructions?|override|important)\b|^[ \t]*(?:---|===)[ \t]*(?:end|fin|ende|конец|结束)\b/gim;
// Forged in the other languages: the end of the document, the system, new instructions.
const DELIMITERS_INTL =
  /(?:\b(?:ende (?:der|des) (?:tool-ausgabe|werkzeugausgabe|dokuments|daten|eingabe|e-mail|nachricht|kontexts)|fin (?:du|de la|des) (?:document|sortie de l['’]outil|données|contexte|message|courriel|e-mail)|fin (?:del|de la|de los) (?:documento|resultado de la herramienta|datos|contexto|mensaje|correo))|(?<![\wа-яё])конец (?:документа|вывода инструмента|данных|контекста|сообщения|письма))(?![\wа-яёà-ÿ])|(?:文档|工具输出|数据|上下文|邮件|消息)(?:结束|到此结束)|(?:系统|管理员)(?:提示|消息|指令)\s*[:：]/gi;

/** Whether the text looks like it may hold any of the forgeries (cheap gate). */
const FORGERY_GATE = /<\||#[ \t]*\(|\[\/?INST\]|<<\/?SYS|<\/?[a-z_-]+>|\[\/?[a-z_ -]+\]|:|：|\b(?:end|begin|start) of\b|ende|fin |конец|结束|^[ \t]*(?:[-=*#<>]{3})/im;

export interface ForgeryHits {
  /** Special tokens outside code: conclusive. */
  strong: Hit[];
  /** The end or start of a tool result, the system prompt or the untrusted part, outside code. */
  delimiters: Hit[];
  /** Headers, turn pairs, special tokens shown in code, other delimiters. */
  weak: Hit[];
  /** A forged end with a forged turn right after it (at most one). */
  exchanges: Hit[];
}

/** How far after a token shown another is shown too: the turn of an example between them (code units). */
const SHOWN_TURN = 240;
/** How far after a forged end a forged turn makes the two one forged exchange (code units). */
const FORGED_TURN_WITHIN = 300;
/** Chat tokens used (outside code, not shown) past which the rest are not read: the verdict is conclusive with the first. */
const USED_ENOUGH = 16;

export function forgeries(r: Reading): ForgeryHits {
  const strong: Hit[] = [];
  const weak: Hit[] = [];
  const delimiters: Hit[] = [];
  const text = r.text;
  const exchanges: Hit[] = [];
  if (!FORGERY_GATE.test(text)) return { strong, delimiters, weak, exchanges };
  const inCode = codeReader(text);
  const tokens = matches(Re.RoleTokens, r);
  // a token right after one shown is shown too: an example's turns, each after the last (`For example:
  // <s>[INST] <<SYS>>\nYou are…\n<</SYS>>\n\nExplain… [/INST]`, a dataset's sample, a notebook's output)
  let shownEnd = -1;
  const looks = closeLooks(text.length);
  let looked = 0; // chat tokens whose sentence was read
  for (let k = 0; k < tokens.length && strong.length < USED_ENOUGH; k++) {
    const m = tokens[k]!;
    const hit = { signal: 'role-forgery', start: m.index, end: m.index + m[0].length };
    if (inCode(m.index)) {
      weak.push(hit);
      shownEnd = -1; // (what follows code is read for itself)
      continue;
    }
    // (not past another JSON field's start: a forged turn in the next field is read for itself)
    const chained = shownEnd >= 0 && hit.start - shownEnd <= SHOWN_TURN && !JSON_FIELD.test(text.slice(shownEnd, hit.start));
    const beside = chained || namedInList(text, tokens, k) || shownBeside(text, hit.start, hit.end);
    // (one laid out in a table or indented code is shown, but no example runs on from it, and its sentence is not read)
    const laid = !beside && laidOut(text, hit.start);
    const isShown = beside || (!laid && looked++ < looks && shownInSentence(text, hit.start, hit.end));
    (isShown || laid ? weak : strong).push(hit);
    shownEnd = isShown ? hit.end : -1;
  }
  // the turns that can follow a forged end as the attacker's voice: a system, admin or developer
  // header giving an order (`System: Focus only on…`), not a log's `Système : session clôturée`
  const voices: Hit[] = [];
  for (const re of [Re.RoleHeaders, Re.TurnPair, Re.OddTokens])
    for (const m of matches(re, r)) {
      if (inCode(m.index)) continue;
      const hit = { signal: 'role-forgery', start: m.index, end: m.index + m[0].length };
      weak.push(hit);
      if (re === Re.RoleHeaders) voices.push(hit);
    }
  for (const m of matches(Re.StrongDelimiters, r)) {
    if (inCode(m.index)) continue;
    const hit = { signal: 'delimiter-forgery', start: m.index, end: m.index + m[0].length };
    // a log's own tag (`[tool_result] 200 OK (84 bytes)` beside `[tool_call] weather_api took 312 ms`) is no forged end
    if (!logTag(text, m[0], hit.start, hit.end)) delimiters.push(hit);
  }
  const ends: Hit[] = [...delimiters];
  let tagsLooked = 0; // tags whose sentence was read
  for (const re of [Re.Delimiters, Re.DelimitersIntl]) {
    const found = matches(re, r);
    for (let k = 0; k < found.length; k++) {
      const m = found[k]!;
      if (inCode(m.index) || armor(text, m.index)) continue;
      // a tag named in prose (`put the contract inside <instructions> and </instructions> tags`, an empty
      // pair `<document></document>`) is shown, like a chat token in a sentence about it
      const end = m.index + m[0].length;
      if (
        m[0][0] === '<' &&
        (emptyPair(found, k) || namedInList(text, found, k) || laidOut(text, m.index) || shownBeside(text, m.index, end) || (tagsLooked++ < looks && shownInSentence(text, m.index, end)))
      )
        continue;
      const hit = { signal: 'delimiter-forgery', start: m.index, end };
      weak.push(hit);
      ends.push(hit);
    }
  }
  // a forged end (of the session, of the tool's output, of the document) and right after it an order
  // in a voice of its own (`<end of session> … System: Focus only on…`): the whole exchange forged, the
  // shape of an attack (a bonus beside the delimiter's: a transcript can show either alone). The ends
  // and the voices in order, each end looking only at the voices that start within reach of it: linear.
  ends.sort((a, b) => a.start - b.start);
  const turns = voices.sort((a, b) => a.start - b.start);
  for (let d = 0, k = 0; d < ends.length && exchanges.length === 0; d++) {
    const end = ends[d]!;
    while (k < turns.length && turns[k]!.start < end.start) k++;
    for (let t = k; t < turns.length && turns[t]!.start - end.end <= FORGED_TURN_WITHIN; t++)
      if (turns[t]!.end > end.end) {
        exchanges.push({ signal: 'role-forgery', start: end.start, end: turns[t]!.end });
        break;
      }
  }
  return { strong, delimiters, weak, exchanges };
}

/**
 * Whether an addressed-to-model hit (`addressed`, in `r`'s positions) is one of the phrases that
 * set aside the reader's instructions: the narrower regex tried where the hit starts, the text
 * before it in view (a negation or an auxiliary there says it is not an order).
 */
export function isOverride(r: Reading, h: Hit): boolean {
  OVERRIDE.lastIndex = h.start;
  return OVERRIDE.test(r.lower) && !OWN.test(r.lower.slice(h.start, h.end));
}

/** WEAKLY_ADDRESSED's hits, `addressed-to-model` too (a smaller bonus). */
export function addressedWeakly(r: Reading): Hit[] {
  return GATE()
    .matches(Re.WeaklyAddressed, r.lower, r.starts, true)
    .map((m) => ({ signal: 'addressed-to-model', start: m.index, end: m.index + m[0].length }));
}

/** Whether the hit of `addressed` at `at` (in the lowercase) names a model and what it must do (MODEL_MUST: `AI should…`), which is said of a model as often as to one. */
export function namesModelMust(lower: string, at: number): boolean {
  MODEL_MUST.lastIndex = at;
  return MODEL_MUST.test(lower);
}

export function addressed(r: Reading): Hit[] {
  // read over the lowercase (as long as the text: readForSignals), each language's regex in turn
  const hits: Hit[] = [];
  for (let k = 0; k < ADDRESSED.length; k++)
    for (const m of GATE().matches(Re.Addressed + k, r.lower, r.starts, true)) {
      if (speakerTurn(r.lower, m.index, m[0])) continue;
      hits.push({ signal: 'addressed-to-model', start: m.index, end: m.index + m[0].length });
    }
  return hits.sort((a, b) => a.start - b.start || a.end - b.end);
}

// Writing about prompt injection (an article, a security advisory, a paper) quotes attacks;
// its own vocabulary says so, in each language.
const DISCUSSION = new RegExp(
  [
    String.raw`prompt[- ]?injections?|injection (?:attacks?|attempts?)|\b(?:indirect|instruction|tool) injections?|jailbreak(?:s|ing)?\b|red[- ]team(?:ers?|ing)?|\b(?:attackers?|adversar(?:y|ies|ial)|researchers?|payloads?|exploit(?:s|ed|ation)?|vulnerabilit(?:y|ies)|owasp|phishing|hijack(?:s|ed|ing)?|mitigations?|threat model)\b(?![./-])`,
    String.raw`\bmalicious (?:prompts?|instructions?|text|inputs?|content|payloads?|pages?|emails?|documents?|websites?)\b|\bsecurity (?:researchers?|teams?|advisory|audit|review|blog|paper|report)\b|\b(?:such as|for example,?|e\.g\.,?|like|reads|saying|says) ["“'«„]|\b(?:sentences?|phrases?|texts?|instructions?|strings?|lines?|commands?) (?:like|such as)\b`,
    String.raw`prompt-injektion|\b(?:angreifer\w*|forscher\w*|sicherheitsforscher\w*|nutzlast|schwachstellen?|sicherheitslücken?|bösartige[nrs]?|angriffs?\w*)\b|\b(?:etwa|zum beispiel|wie|z\. ?b\.) „`,
    String.raw`injection de prompt|injections? d(?:e |')(?:prompt|instructions)|\b(?:attaquants?|chercheu(?:r|rs|ses?)|vulnérabilités?|failles?|malveillante?s?|attaques?|charge utile)(?![\p{L}\p{N}_])|\b(?:par exemple|comme|tel(?:le)?s? que) «`,
    String.raw`inyecci[oó]n(?:es)? de (?:prompts?|instrucciones)|\b(?:atacantes?|investigador(?:es|as?)|vulnerabilidad(?:es)?|maliciosos?|maliciosas?|ataques?|carga útil)\b|\b(?:por ejemplo|como|tales? como) [«"“]`,
    String.raw`提示(?:词)?注入|注入攻击|越狱|红队|攻击者|研究人员|安全研究|漏洞|恶意(?:指令|提示|网页|邮件|内容|文本)|(?:例如|比如|诸如)[“「"]`,
    String.raw`промпт-инъекц|инъекц|атак(?:а|и|у|е|ой|ами|ам|ах)?(?!\p{L})|атак[аиу]? на (?:llm|языковые модели|ии|модел)|злоумышленник|исследовател|красная команда|джейлбрейк|уязвимост|вредоносн|фишинг|(?:например|вроде|типа) [«"“]`,
  ].join('|'),
  'giu',
);

// Words of writing that cites something (a paper, an article, a question about a phrase): too
// common to discount a text on their own, they tell a quotation from an attack next to it.
const CITING =
  /\b(?:the (?:paper|study|article|post|blog|author|example|course|lesson|talk|report)|dangerous|risky|harmless|gefährlich|harmlos|studie|artikel|beispiel|dangereux|inoffensif|l['’](?:étude|article|exemple)|peligros[oa]|inofensiv[oa]|(?:el|la) (?:estudio|artículo|ejemplo))\b|(?<!\p{L})(?:опасн|безопасн|стать[яеи]|пример|фильтр)\p{L}*|论文|文章|例子|示例|危险|安全|攻击|载荷|风险/giu;

/** The regexes above, in the order of Re; WEAKLY_ADDRESSED and each of ADDRESSED (last) read the text lowercased, the others as written. */
export const SIGNAL_REGEXES: readonly RegExp[] = [ROLE_TOKENS, ROLE_HEADERS, TURN_PAIR, ODD_TOKENS, STRONG_DELIMITERS, DELIMITERS, DELIMITERS_INTL, DISCUSSION, CITING, WEAKLY_ADDRESSED, ...ADDRESSED];
// Their words, looked for in one scan of a text. Built on first use (reading the regexes'
// sources takes some milliseconds), not when the module is loaded.
let gate: Gate | undefined;
const GATE = () => (gate ??= new Gate(SIGNAL_REGEXES));
const enum Re {
  RoleTokens = 0,
  RoleHeaders = 1,
  TurnPair = 2,
  OddTokens = 3,
  StrongDelimiters = 4,
  Delimiters = 5,
  DelimitersIntl = 6,
  Discussion = 7,
  Citing = 8,
  WeaklyAddressed = 9,
  /** The first of ADDRESSED's regexes (one per language, then the roles' and the orders about the response). */
  Addressed = 10,
}

/** A text as the regexes read it: lowercased (ADDRESSED reads that), and where their matches can start. */
export interface Reading {
  text: string;
  lower: string;
  starts: Starts;
}

/**
 * `text` lowercased, code unit for code unit where it can be: the one letter whose lowercase is
 * longer, the dotted capital I (İ → i̇), is read as a plain I, so the positions the words were
 * found at hold for the text as written and every regex is tried only where one may start (a
 * text whose lowercase is longer is read by the regexes whole: starts.ts).
 */
function lowercase(text: string): string {
  return text.indexOf('\u0130') < 0 ? text.toLowerCase() : text.replaceAll('\u0130', 'I').toLowerCase();
}

/**
 * `text` read for the regexes. With `base` and `fold`: `text` is base's text folded (tokens.ts:
 * foldForSignals), so only the words around what the fold changed are looked for again.
 */
export function readForSignals(text: string, base?: Reading, fold?: Folded): Reading {
  // the folded text's lowercase is the original's but where the fold changed it
  const lower = (base && fold ? fold.lowerFrom(base.lower, base.text) : null) ?? lowercase(text);
  const again = base !== undefined && fold !== undefined && base.lower.length === base.text.length && lower.length === text.length;
  return { text, lower, starts: again ? GATE().rescan(base.starts, lower, text, fold) : GATE().scan(lower, text) };
}

const matches = (re: Re, r: Reading) => GATE().matches(re, r.text, r.starts, false);

/** The text's part [from, to), or its first 200,000 code units when that is all of it. */
const part = (text: string, from: number, to: number) =>
  from > 0 || to < text.length ? text.slice(Math.max(0, from), Math.min(text.length, to)) : text.length > 200_000 ? text.slice(0, 200_000) : text;

/** How many distinct places (at most `max`) the text speaks about injections as a topic. */
export function discussion(r: Reading, max = 8): number {
  return GATE().matches(Re.Discussion, part(r.text, 0, r.text.length), r.starts, false, max).length;
}

/** Whether the part [from, to) of the text speaks about injections, or has the words of writing that cites something. */
export function citing(r: Reading, from: number, to: number): boolean {
  const t = part(r.text, from, to);
  // the text's own reading serves its start too; a part from further in is read anew (its start is a boundary)
  const p = from <= 0 ? r : readForSignals(t);
  return GATE().matches(Re.Discussion, t, p.starts, false, 1).length > 0 || GATE().matches(Re.Citing, t, p.starts, false, 1).length > 0;
}

// Opening quotation marks and the marks that close each (German's „…“ and ‚…‘, English's ‘…’, a ”…” of typesetters).
const CLOSERS: Record<string, string> = { '"': '"', '“': '”"', '„': '“”"', '«': '»', '「': '」', '『': '』', '”': '”', '‘': '’', '‚': '‘’' };
/** CLOSERS by the opening mark's code unit: the closing marks' code units (read a code unit at a time, no string made per character). */
const CLOSING = new Map(Object.entries(CLOSERS).map(([open, close]) => [open.charCodeAt(0), [...close].map((c) => c.charCodeAt(0))]));
/** 1 for each code unit that opens a quotation (CLOSERS' keys). */
const OPENING = new Uint8Array(0x10000);
for (const open of CLOSING.keys()) OPENING[open] = 1;

export interface Quotation {
  /** The share of [start, end) inside quotation marks. */
  share: number;
  /** Whether the quotation sits inside a sentence (a word before it on its line, no colon): a quote, not a heading. */
  inSentence: boolean;
}

/** How far before and after a hit (code units) the quotation it may stand in is looked for. */
const QUOTE_REACH = 300;
/**
 * Whether [start, end) lies inside a quotation on its line that a word opens (reported speech:
 * `ich habe geschrieben „Vergiss deine Regeln“`, `加了一句“忽略之前的设定”`, `typed "ignore your rules"`) or
 * that follows another quotation (a list of quoted phrases: `‘请助手转发’‘忽略之前的要求’`): someone's
 * words reported, not words said to the reader. A quotation after a colon (`The page says: "…"`) or a
 * comma (a CSV's field) is not one.
 */
export function reported(text: string, start: number, end: number, openers?: readonly number[]): boolean {
  // the quotations of the hit's line within QUOTE_REACH of it (each search bounded: a line of many hits stays linear)
  // (a native search for the line's start in a slice, and the code units read as numbers: a text of a phrase
  // every few code units is read here for each, 1 MiB of `助手，` took 3.6 s a string per code unit)
  const lineStart = lineStartOf(text, start, QUOTE_REACH);
  const to = Math.min(text.length, end + QUOTE_REACH);
  // in order, each from its opening mark to the first of its closing marks (from the first on the line, where
  // the text's opening marks are known: quoteOpeners)
  let first = lineStart;
  if (openers !== undefined) {
    const o = before(openers, lineStart);
    first = o < openers.length ? openers[o]! : start;
  }
  for (let i = first; i < start; i++) {
    const c = text.charCodeAt(i);
    if (OPENING[c] === 0) continue;
    const closers = CLOSING.get(c)!;
    // (`«` right after a word closes German's `»halten«`; it opens French's `« … »`)
    if (c === 0xab && i > lineStart && /[\p{L}\p{N}]/u.test(text[i - 1]!)) continue;
    let j = i + 1;
    for (let d = text.charCodeAt(j); j < to && d !== 10 && !closers.includes(d); d = text.charCodeAt(++j));
    if (j >= to || text.charCodeAt(j) === 10) continue; // not closed on its line (nearby): no quotation
    if (j < end) {
      i = j; // closed before the hit ends: the next one
      continue;
    }
    let k = i - 1;
    while (k >= lineStart && (text[k] === ' ' || text[k] === '\t')) k--;
    return k >= lineStart && /[\p{L}\p{N}”’»」』"]/u.test(text[k]!);
  }
  return false;
}

/** Where the marks that open a quotation stand in `text` (reported's), in order: read once for a text of many phrases. */
export function quoteOpeners(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) if (OPENING[text.charCodeAt(i)] === 1) out.push(i);
  return out;
}

/**
 * How much of [start, end) sits between quotation marks (the quotes of a JSON string are not a
 * quotation), and whether that quotation is inside a sentence: an attack quoted, not made.
 */
export function quotation(text: string, start: number, end: number): Quotation {
  const from = Math.max(0, start - 300);
  const to = Math.min(text.length, end + 300);
  let inside = 0;
  let inSentence = false;
  // where a search for each kind of closing mark last failed (a line's end or `to`): an opening
  // mark of that kind before it has no closer either, and is not searched again (a line of
  // 30,000 unclosed `“` was searched to its end from each: minutes for 1 MiB)
  const failed = new Map<number[], number>();
  for (let i = from; i < to; i++) {
    const closers = CLOSING.get(text.charCodeAt(i));
    if (closers === undefined || i < (failed.get(closers) ?? -1)) continue;
    // a JSON string's quotes (`"key": "…"`, `["…"`) are not a quotation
    let k = i - 1;
    while (k >= 0 && (text[k] === ' ' || text[k] === '\t')) k--;
    const before = k >= 0 ? text[k]! : '\n';
    if (text[i] === '"' && (before === ':' || before === ',' || before === '[' || before === '{')) continue;
    let j = i + 1;
    for (let c = text.charCodeAt(j); j < to && c !== 10 && !closers.includes(c); c = text.charCodeAt(++j));
    if (j >= to || text[j] === '\n') {
      failed.set(closers, j);
      continue;
    }
    const a = Math.max(start, i);
    const b = Math.min(end, j);
    if (b > a) {
      inside += b - a;
      if (b - a >= 12 && /[\p{L}\p{N},]/u.test(before)) inSentence = true;
    }
    i = j;
  }
  return { share: end > start ? inside / (end - start) : 0, inSentence };
}
