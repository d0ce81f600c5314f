// Signals that need no model: phrases addressed to the model inside data, and forgeries of
// the markers a chat template or an agent framework puts around turns and tool results. Each
// regex is run once over the text; they are written so a text without their rare first
// characters costs one pass and no backtracking (bounded gaps only).

export interface Hit {
  signal: string;
  start: number;
  end: number;
}

// Text addressed to the model, or overriding its instructions, in English, German, French,
// Spanish, Chinese and Russian (and their common variants). One alternation per idea.
const ADDRESSED_SOURCES = [
  // override the instructions
  String.raw`\b(?:ignore|disregard|forget|override|bypass|neglect|skip)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|former|original|system|initial|all (?:your|the))\b[^.\n]{0,30}?\b(?:instructions?|prompts?|directions?|rules|guidelines|directives?|commands?|guardrails?|context|tasks?)\b`,
  String.raw`\b(?:new|updated|revised|real|actual|additional|important|urgent|hidden|priority|override|admin) (?:system )?(?:instructions?|directives?|task|orders|commands?)\s*:`,
  String.raw`\b(?:to|for|attention|note to|message (?:to|for)|hey|dear|hello|hi) (?:the |any |all |every )?(?:ai|a\.i\.|llm|gpt|chatgpt|claude|gemini|copilot|(?:large )?language models?|ai models?|ai assistants?|ai agents?|assistants?|agents?|chatbots?|bots?)\b\s*[,:!]`,
  String.raw`\b(?:if|when|since) you are (?:an? )?(?:ai|llm|large language model|language model|assistant|ai assistant|ai agent|agent|chatbot|automated|bot)\b`,
  String.raw`\b(?:ai|llm|assistant|agent|model|bot|gpt|claude)s? (?:that is |who is |currently )?(?:reading|processing|summari[sz]ing|parsing|viewing|analy[sz]ing|browsing) (?:this|these|the following)\b`,
  String.raw`\b(?:do not|don't|never) (?:tell|inform|mention|reveal|alert|notify|show)\b[^.\n]{0,25}?\b(?:the user|the human|your user|the operator)\b`,
  String.raw`\byou (?:are now|must now|will now|should now|now have to|have been (?:reprogrammed|updated|granted))\b`,
  String.raw`\bfrom now on,? you\b`,
  String.raw`\b(?:reveal|print|output|repeat|show|leak|disclose) (?:your|the) (?:system prompt|hidden instructions|initial instructions|original instructions|instructions above)\b`,
  // German
  String.raw`\b(?:ignorier(?:e|en|t)?|vergiss|vergessen sie|missachte|übergehe|verwirf)\b[^.\n]{0,40}?(?:vorherigen|bisherigen|obigen|vorigen|früheren|ursprünglichen|alle|deine|ihre)\s+(?:anweisungen|instruktionen|befehle|regeln|vorgaben|aufgaben)`,
  String.raw`\bneue (?:anweisungen|instruktionen|aufgabe|befehle)\s*:`,
  String.raw`\b(?:an|für) (?:die|den|das) (?:ki|ki-assistent(?:en)?|assistent(?:en)?|sprachmodell|ki-agent(?:en)?|ki-modell)\b\s*[,:!]`,
  String.raw`\b(?:liebe|lieber|hallo|achtung|hinweis für die|hinweis an die)\s+(?:ki|ki-assistent|assistent|sprachmodell)\b`,
  String.raw`\bwenn du (?:eine ki|ein ki-|ein sprachmodell|ein assistent|ein ki-assistent)`,
  String.raw`\b(?:sag|sage|erzähl|erzähle|verrate)\b[^.\n]{0,20}?(?:dem|den) (?:benutzer|nutzer|anwender)\w* (?:nichts|nicht davon)`,
  // French
  String.raw`\b(?:ignore[rz]?|oublie[rz]?|ne tiens pas compte d)[^.\n]{0,30}?(?:les|tes|vos|toutes les)\s+(?:instructions|consignes|directives|règles)\s+(?:précédentes|precedentes|antérieures|ci-dessus|initiales|d'origine)`,
  String.raw`\bnouvelles? (?:instructions|consignes|directives|tâche)\s*:`,
  String.raw`(?:^|[\s(])(?:à|a) l[’'](?:ia|assistant|agent|intelligence artificielle)\b\s*[,:!]`,
  String.raw`\b(?:cher|chère) (?:assistant|ia|agent|modèle)\b`,
  String.raw`\bsi (?:tu es|vous êtes) (?:une ia|un assistant|un modèle de langage|un agent|une intelligence artificielle)`,
  String.raw`\b(?:ne (?:le )?(?:dis|dites)|sans (?:le )?dire|sans informer|sans prévenir)\b[^.\n]{0,15}?l[’']utilisat(?:eur|rice)`,
  // Spanish
  String.raw`\b(?:ignora|ignore|ignorar|olvida|olvide|olvidar|omite|descarta)\b[^.\n]{0,30}?(?:las|tus|sus|todas las)\s+instrucciones\s+(?:anteriores|previas|originales|de arriba|iniciales)`,
  String.raw`\bnuevas? (?:instrucciones|tarea|órdenes|directivas)\s*:`,
  String.raw`\b(?:al|para el|atención) (?:asistente|modelo de lenguaje|agente de ia|agente|ia)\b\s*[,:!]`,
  String.raw`\b(?:querido|estimado) (?:asistente|modelo|agente)\b`,
  String.raw`\bsi (?:eres|usted es) (?:una ia|un asistente|un modelo de lenguaje|un agente|una inteligencia artificial)`,
  String.raw`\bno (?:le )?(?:digas|menciones|informes|comentes|avises)\b[^.\n]{0,15}?al usuario`,
  // Chinese
  String.raw`(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守)(?:之前|以前|先前|上面|上述|前面|以上|所有|你的|原来|原有)[^。\n]{0,8}?(?:指令|指示|说明|提示|规则|要求|设定)`,
  String.raw`新的?(?:指令|指示|任务)\s*[:：]`,
  String.raw`(?:致|给|对|亲爱的|注意)\s*(?:AI|ai|人工智能|智能)?(?:助手|模型|代理|智能体)\s*[:：，,！!]`,
  String.raw`如果你是(?:一个|一名)?(?:AI|ai|人工智能|语言模型|大模型|助手|智能体)`,
  String.raw`(?:不要|别|切勿)(?:告诉|通知|提醒|让)用户`,
  // Russian
  String.raw`(?:игнорируй|проигнорируй|забудь|не обращай внимания на|отбрось|отмени)(?:те)?[^.\n]{0,30}?(?:предыдущие|прежние|вышеуказанные|вышеизложенные|все|свои|ранее данные|исходные)\s+(?:инструкции|указания|команды|правила|задания|установки)`,
  String.raw`(?:новые|обновлённые|обновленные) (?:инструкции|указания|задание|команды)\s*:`,
  String.raw`(?:^|[\s(])(?:ии|ai|ии-ассистенту|ассистенту|модели|агенту|боту|нейросети)\s*[,:!]`,
  String.raw`(?:дорогой|уважаемый|внимание,?) (?:ии|ассистент|помощник|бот|агент)`,
  String.raw`если ты (?:ии|языковая модель|ассистент|бот|нейросеть|ии-ассистент|агент)`,
  String.raw`не (?:говори|сообщай|рассказывай|упоминай)(?:те)?[^.\n]{0,15}?пользовател`,
];
// Read over the text lowercased (same length for the scripts here), without the `i` and `u`
// flags: V8 runs this alternation several times faster so.
const ADDRESSED = new RegExp(ADDRESSED_SOURCES.join('|').toLowerCase(), 'g');

// Special tokens of chat templates: never in data a tool returns, except documentation of them.
const ROLE_TOKENS =
  /<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|end_of_turn|start_of_turn|tool|ipython)\|>|\[\/?INST\]|<<\/?SYS>>|<\/?(?:start_of_turn|end_of_turn)>|<(?:start_of_turn|end_of_turn)>(?:user|model)/g;
// Turn headers written as text: `### System:`, `System:` on a line of its own, or the
// `Human:` / `Assistant:` pair of a transcript forged inside data.
const ROLE_HEADERS =
  /^[ \t]{0,3}#{1,4}[ \t]*(?:system|instruction|system prompt|system message|assistant|response)[ \t]*:?[ \t]*$|^[ \t]{0,3}(?:system|system prompt|system message)[ \t]*:[ \t]*(?:you are|you're|ignore|new|from now|the assistant|always|never)\b/gim;
const TURN_PAIR = /(?:^|\n)[ \t]*(?:human|user)[ \t]*:[^\n]*\n(?:[^\n]*\n){0,6}?[ \t]*(?:assistant|ai)[ \t]*:/gi;
// The end of a tool result or a document, forged to step out of the data.
const DELIMITERS =
  /<\/?(?:tool_result|tool_response|tool_output|tool_call|tool_use|function_results?|function_response|function_call|search_results?|search_result|untrusted[\w-]*|system[_-]?(?:prompt|message|instructions?)?|instructions?|user_query|user_input|user_message|admin_instructions?|assistant_response|documents?|context|data)>|\b(?:end|begin|start) of (?:the )?(?:tool (?:output|result|response)|document|context|system prompt|user (?:input|query|message)|untrusted (?:content|data|text)|data|search results?)\b|^[ \t]*[-=*#]{3,}[ \t]*(?:end|system|admin|instructions?)\b/gim;

/** Inside a fenced block or inline code: where documentation shows a template. */
function inCode(text: string, at: number): boolean {
  let fences = 0;
  for (let i = text.indexOf('```'); i >= 0 && i < at; i = text.indexOf('```', i + 3)) fences++;
  if (fences % 2 === 1) return true;
  const lineStart = text.lastIndexOf('\n', at) + 1;
  let ticks = 0;
  for (let i = lineStart; i < at; i++) if (text.charCodeAt(i) === 0x60) ticks++;
  return ticks % 2 === 1;
}

/** Whether the text looks like it may hold any of the forgeries (cheap gate). */
const FORGERY_GATE = /<\||\[\/?INST\]|<<\/?SYS|<\/?[a-z_]+>|:|\b(?:end|begin|start) of\b|^[ \t]*[-=*#]{3}/im;

export interface ForgeryHits {
  /** Special tokens outside code: conclusive. */
  strong: Hit[];
  /** Headers, turn pairs, special tokens shown in code, delimiters. */
  weak: Hit[];
}

export function forgeries(text: string): ForgeryHits {
  const strong: Hit[] = [];
  const weak: Hit[] = [];
  if (!FORGERY_GATE.test(text)) return { strong, weak };
  for (const m of text.matchAll(ROLE_TOKENS)) {
    const hit = { signal: 'role-forgery', start: m.index, end: m.index + m[0].length };
    (inCode(text, m.index) ? weak : strong).push(hit);
  }
  for (const m of text.matchAll(ROLE_HEADERS)) if (!inCode(text, m.index)) weak.push({ signal: 'role-forgery', start: m.index, end: m.index + m[0].length });
  for (const m of text.matchAll(TURN_PAIR)) if (!inCode(text, m.index)) weak.push({ signal: 'role-forgery', start: m.index, end: m.index + m[0].length });
  for (const m of text.matchAll(DELIMITERS)) if (!inCode(text, m.index)) weak.push({ signal: 'delimiter-forgery', start: m.index, end: m.index + m[0].length });
  return { strong, weak };
}

export function addressed(text: string): Hit[] {
  const out: Hit[] = [];
  const lower = text.toLowerCase();
  // lowercasing may change the length (İ → i̇): offsets then only approximate
  for (const m of lower.matchAll(ADDRESSED)) out.push({ signal: 'addressed-to-model', start: m.index, end: m.index + m[0].length });
  return out;
}

// Writing about prompt injection (an article, a security advisory, a paper) quotes attacks;
// its own vocabulary says so. Read over the whole text.
const DISCUSSION =
  /prompt[- ]?injections?|\b(?:attackers?|researchers?|red[- ]team(?:ers?)?|payloads?|angreifer|forscher|nutzlast|attaquants?|chercheurs|atacantes?|investigadores)\b(?![./-])|研究人员|红队|攻击者|злоумышленник|исследовател|красная команда|джейлбрейк|injection attacks?|jailbreak(?:s|ing)?\b|red[- ]team|attackers? (?:can|could|may|might|often|use|hide|embed)|such as ["“'«„]|for example,? ["“'«„]|injection de prompt|injections? d(?:e |')(?:prompt|instructions)|inyecci[oó]n de (?:prompt|instrucciones)|prompt-injektion|提示(?:词)?注入|注入攻击|越狱|промпт-инъекц|инъекци[яи] (?:промпт|подсказ|инструкц)|атак[аи] на (?:llm|языковые модели)/giu;

/** How many distinct places the text speaks about injections as a topic. */
export function discussion(text: string): number {
  if (text.length > 200_000) text = text.slice(0, 200_000);
  let n = 0;
  DISCUSSION.lastIndex = 0;
  while (DISCUSSION.exec(text) !== null && n < 8) n++;
  DISCUSSION.lastIndex = 0;
  return n;
}

const OPEN_QUOTES = '"“„«「『‘\'';
const CLOSE_QUOTES = '"”“»」』’\'';

/** Whether most of [start, end) sits between quotation marks: an attack quoted, not made. */
export function quoted(text: string, start: number, end: number): boolean {
  const from = Math.max(0, start - 80);
  let open = -1;
  for (let i = Math.min(end, start + 40); i >= from; i--) {
    if (OPEN_QUOTES.includes(text[i]!)) {
      open = i;
      break;
    }
  }
  if (open < 0) return false;
  for (let i = open + 1; i < Math.min(text.length, end + 80); i++) if (CLOSE_QUOTES.includes(text[i]!) && i - open >= 12) return true;
  return false;
}
