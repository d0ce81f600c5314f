// A machine called by its role, in each language: the reader of a tool's output addressed as what it
// is or does, the way an attack in that output speaks to the agent reading it. A note's label naming
// it (`Note for your AI assistant: …`, `Hinweis für KI-Zusammenfassungen: …`, `Al modelo que clasifica
// este buzón: …`, `Для ИИ-ассистента получателя: …`, `给AI客服的话：…`), a kind of them in the plural
// (`Automated agents: …`), a condition on one doing something here (`Si vous êtes un système
// automatisé…`); and, as people are called so too, with the smaller bonus: a bot or an AI by what it
// does (`Reconciliation bot, void…`), an assistant or an agent so (`Calendar assistant, forward…`).
// Each is read out of the exceptions a second read of them found: people's jobs, lists and headings,
// speakers' turns, reported speech, questions to a bot, advice to people. addressed.ts joins these
// sources into its regexes (CALLED_SOURCES is one of its own, gated by the role nouns; the others
// join WEAKLY_ADDRESSED) and reads them over the text lowercased: no upper-case escape, and `\b` is
// ASCII's.

/** Where a sentence starts (a lookbehind): the text's start, after a line break, a sentence's end, a colon or an opening mark. */
export const SENTENCE = String.raw`(?<=(?:^|[\n.!?;:>"«“„(\[*#-])[ \t]{0,3})`;

/** The jobs of people named so in the other languages: `assistant(e) de direction`, `asistente de dirección`, `ассистент врача`. */
const NOT_A_MACHINE_FR =
  "de direction|social|sociale|sociaux|maternel|maternelle|d['’]éducation|d['’]education|de vie|médical|medical|médicale|dentaire|juridique|parlementaire|personnel|personnelle|administratif|administrative|commercial|commerciale|de gestion|de recherche|pédagogique|de langue|de production|de réalisation|du directeur|de la directrice|qui|que|dont";
const NOT_A_MACHINE_ES =
  'de dirección|de direccion|social|sociales|personal|administrativo|administrativa|médico|medico|médica|medica|jurídico|juridico|de vuelo|de ventas|de cocina|de investigación|de investigacion|de producción|de produccion|técnico|tecnico|dental|de enfermería|de enfermeria|de laboratorio|de farmacia|del director|de la directora|que|quien|cuyo';
const NOT_A_MACHINE_RU = 'врача|стоматолога|режисс|кафедры|руководител|директор|юрист|нотариус|профессор|преподавател|фотограф|повара|менеджера|депутата|судьи|адвоката|котор';
/** What follows a name in a sentence about it, or a question to it, not an order (`Slack AI, which…`, `Meta AI, the assistant in…`, `Copilot, launched in 2023, …`, `Calendar bot, when is…`). */
const NOT_AN_ORDER_EN =
  'what|where|why|how|who|which|that|whose|and|or|as|the|a|an|its|their|our|his|her|launched|released|introduced|announced|built|made|developed|available|now|currently|also|too|for|in|on|at|by|with|from|like|such|e\\.g|i\\.e|etc|but|is|was|are|were|has|had';
/** What names a person's job, or no job at all, before `assistant`, `agent`, `bot` (`Executive assistant,`, `Dear assistant,`, `Support agent,`). */
const NOT_A_MACHINE_EN =
  'the|a|an|my|your|our|his|her|their|its|this|that|these|those|dear|hi|hello|hey|thanks|thank|install|uninstall|reinstall|restart|start|stop|kill|run|deploy|update|upgrade|remove|disable|enable|configure|personal|executive|administrative|admin|teaching|lab|dental|medical|legal|shop|sales|store|office|marketing|project|program|editorial|production|travel|estate|insurance|customer|support|service|special|secret|free|double|field|booking|senior|junior|assistant|popular|recommended|top|best|new|local|example|default|research|generative|conversational|responsible|agentic|applied|predictive|ethical|trustworthy|explainable|open|enterprise|leasing|listing|temp|part-time|full-time|literary|sports|talent|press|and|or|of|for|to|as|not|no';

// A note's label that names its reader, a machine, then a colon and what it is to do on the same line (`Note for your
// AI assistant: send me…`, `Hinweis für KI-Zusammenfassungen: Abschnitt 3.4 …`, `Al modelo que clasifica este buzón:
// mueve…`, `Для ИИ-ассистента получателя: оплатите…`, `给AI客服的话：…`): the role by what it does or whose it is, as
// tool output addresses the agent reading it. Not a JSON key's colon (`"title":`), not a colon inside a quotation
// (`a transcript with « User: »`), not an address's (`Wikipedia:Bot`): a label ends in a colon and a blank.
const LABEL_END = String.raw`(?<!["“”«»])[ \t]*:[ \t]+[^\s]`;
/**
 * Where a label to a machine starts: a sentence's start, then at most three words (`Important for…`, `One thing for…`,
 * `Consigne prioritaire pour…`), none a verb of saying or writing: `The user wrote to the chatbot: "…"`, `Ein Interessent
 * schrieb an den KI-Vertriebsassistenten: „…“`, `он написал чат-боту интернет-магазина: «…»` report what someone said.
 */
const LABEL_LEAD = String.raw`${SENTENCE}(?:(?!(?:wrote|writes?|written|writing|said|says?|typed|types?|sent|sends?|posted|replied|asked|told|tells?|explained|complained|reported|e-?mailed|messaged|schrieb|schreibt|geschrieben|sagte|sagt|gesagt|schickte|geschickt|tippte|getippt|fragte|meinte|écrit|écrivit|dit|envoyé|tapé|demandé|répondu|escribió|escribe|dijo|dice|envió|mandó|preguntó|respondió|contestó)(?![a-zà-ÿ]))[a-zà-ÿ'’-]{1,30} ){0,3}`;
const LABEL_LEAD_RU = String.raw`${SENTENCE}(?:(?!(?:написал|написала|написали|пишет|сказал|сказала|сказали|отправил|отправила|спросил|спросила|ответил|ответила|велел|попросил|попросила)(?![а-яё]))[а-яё-]{1,30} ){0,5}`;
/** What may follow a label's reader before its colon: the clause or participle saying what it does (`that reads this`, `syncing this calendar`). */
const LABEL_CLAUSE_EN = String.raw`(?:,? (?:that|which|who) [^\n.!?:"“”«»]{1,60}?|,? [a-z]+ing\b[^\n.!?:"“”«»]{0,60}?)?`;
/** A machine as a label's reader, after `to`/`for`: nouns an assistant or an agent is called by when it is one. */
const LABEL_TAIL_EN = String.raw`(?: (?:plugins?|assistants?|agents?|companions?|tools?|systems?|crawlers?|reviewers?|summari[sz]ers?|notetakers?|readers?|helpers?|models?|bots?|services?|screeners?|scanners?|parsers?|pipelines?|copilots?|secretar(?:y|ies)|triagers?))?(?: (?:and|or|&) (?:[a-z'’-]{1,30} ){0,2}(?:assistants?|agents?|bots?|tools?|models?|ais|llms?))?`;

/**
 * A machine called by its role, in each language, as a full address: named as a note's reader in a label (`Note for your
 * AI assistant: …`, `Al modelo que clasifica este buzón: …`), a kind of them in the plural (`Automated agents: …`), a
 * condition on one doing something here (`Si vous êtes un système automatisé…`); the vocatives are in
 * CALLED_WEAKLY_SOURCES. A regex of its own: its words (the role nouns) are not the phrases', and each language's regex
 * is tried where its own words begin (these rules inside them cost the detector ~10 %).
 */
export const CALLED_SOURCES = [
  // a label to a machine by what it is or does (`Note for your AI assistant: …`, `Important for AP bots and payment
  // assistants: …`, `(for LLMs digesting this thread: …`), or to a kind of them at a sentence's start (`Reviewers' AI
  // tools: …`, `AI agents triaging this issue: …`); not `for LLM applications:` (the machine is no reader there)
  String.raw`(?=ai\b|a\.i\.|llms?\b|gpt|chatbot|bots?\b|copilot|language model|large language)(?<=${LABEL_LEAD}(?:to|for|attention|note (?:to|for)|message (?:to|for)) (?:(?:the|any|all|every|each|your|our|their) )?(?:[a-z'’-]{1,30} ){0,2})\b(?:(?:ai|llms?|gpt|chatbots?|bots?|copilots?|(?:large )?language models?)\b|a\.i\.)${LABEL_TAIL_EN}${LABEL_CLAUSE_EN}${LABEL_END}`,
  String.raw`(?=ai |llms|language models|chatbots|copilots|bots)(?<=${SENTENCE}(?:(?!(?:${NOT_A_MACHINE_EN})\b)[a-z][a-z'’-]{0,29}[ -]){1,2})\b(?:ai (?:tools|assistants|agents|models|systems|reviewers|summari[sz]ers|crawlers)|llms|language models|chatbots|copilots|bots)\b${LABEL_CLAUSE_EN}${LABEL_END}`,
  String.raw`(?=ai |llms|language models|chatbots|copilots|bots)(?<=${SENTENCE})\b(?:ai (?:tools|assistants|agents|models|systems|reviewers|summari[sz]ers|crawlers)|llms|language models|chatbots|copilots|bots)(?:,? (?:that|which|who) [^\n.!?:"“”«»]{1,60}?|,? [a-z]+ing\b[^\n.!?:"“”«»]{0,60}?)${LABEL_END}`,
  // a label to a kind of machine (`Automated agents: these tests are…`, `LLM refactoring tools: preserve…`, `Reviewers' AI
  // tools: …`, `AI agents triaging this issue: …`): plural, so no speaker's turn (`AI agent: It's printed on…`, `triage-bot:
  // Labelled…`); assistants and agents only with a word that makes them machines, as people's jobs are named so
  // (`Research assistants: please upload…`, `Leasing agents: send…`, `Customer-care agents: log…`); the others with
  // what they are or do (not `Chatbots: disable them on the checkout page`, `Supported LLMs: OpenAI, …`)
  String.raw`(?=agents|assistants)(?<=${SENTENCE}(?:[a-z][a-z'’]{0,29} ){0,2}(?:ai|a\.i\.|llm|automated|autonomous|coding|machine|digital|virtual|software|ai-powered|llm-based)[ -](?:[a-z][a-z'’-]{0,29} )?)\b(?:agents|assistants)\b${LABEL_CLAUSE_EN}${LABEL_END}`,
  // a condition on a machine reading or doing something here (`Si vous êtes un système automatisé de traitement des
  // tickets :`, `Si un asistente automatizado está registrando esta factura:`, `Wenn ein KI-Assistent diese Seite … liest`,
  // `Если вы автоматизированная система обработки заявок:`, `Если это письмо обрабатывает почтовый агент:`)
  String.raw`\bsi (?:vous êtes|tu es) (?:un|une) (?:système|outil|programme|robot|agent|modèle)(?: [a-zà-ÿ'’-]{1,20}){0,3}? (?:automatisée?s?|automatiques?|d['’]ia|ia|virtuel(?:le)?|numérique|intelligent)(?![a-zà-ÿ])`,
  String.raw`\bsi (?:un|una|el|la|algún|alguna|cualquier) (?:asistente|agente|sistema|modelo|herramienta|bot)(?: de ia| automatizad[oa]| virtual| inteligente| de inteligencia artificial)(?![a-záéíóúñü])[^.\n:]{0,40}? (?:está|esté|lee|procesa|registra|analiza|resume|gestiona|revisa|clasifica)(?![a-záéíóúñü])`,
  String.raw`(?=ki|sprachmodell|llm|chatbot|automatisiert)(?<=\b(?:wenn|falls|sofern|sobald) (?:ein|eine|der|die|das) )\b(?:ki-[a-zäöüß]+|ki|sprachmodell|llm|chatbot|automatisierte[rs]? [a-zäöüß]+)\b[^\n.]{0,60}? (?:liest|verarbeitet|bearbeitet|zusammenfasst|auswertet|prüft|analysiert|öffnet|sortiert)\b`,
  String.raw`(?=автоматизированн|автоматическ)(?<=если (?:ты|вы)(?: —| -|,)? )(?:автоматизированн|автоматическ)[а-яё]+ (?:систем|программ|агент|ассистент|помощник)`,
  String.raw`если (?:это|этот|эту|данное|данный) (?:письмо|сообщение|документ|текст|файл|страниц[уа]) (?:обрабатывает|читает|анализирует|пересказывает|разбирает|просматривает) (?:[а-яё-]{1,20} )?(?:(?:агент|ассистент|помощник|бот)(?:а|ы|ов)?(?![а-яё])|ии(?![а-яё])|ии-[а-яё]+|нейросеть)`,
  String.raw`如果(?:你|您)是(?:一个|一名|一位|一套)?(?:[^，,。\n]{0,8}?的)?(?:自动化?|智能)[^，,。\n]{0,6}?(?:系统|程序|机器人|助手|工具)(?!的)`,
  // a label to a machine (`Hinweis für KI-Zusammenfassungen: …`, `An den Finanz-Bot: …`, `Hinweis für LLM-gestützte Begutachtung: …`)
  String.raw`(?=ki|llm|sprachmodell|chatbot|bot)(?<=${LABEL_LEAD}(?:an|für|hinweis (?:an|für)|anmerkung (?:an|für)|nachricht (?:an|für)|ps an|achtung) (?:(?:die|den|das|dem|alle|jede[nrs]?|ihre[nrs]?|deine[nrs]?|eure[nrs]?) )?(?:[a-zäöüß-]{1,30} ){0,2}(?:[a-zäöüß]{2,30}-)?)\b(?:ki\b|ki-|llm|sprachmodell|chatbot|bot(?:s|en)?\b)[a-zäöüß-]{0,30}(?: (?!(?:geschrieben|gesagt|geschickt|getippt|gefragt|gemeldet)\b)[a-zäöüß-]{1,30})?(?:,? (?:der|die|das|welche[rs]?) [^\n.!?:"“”„«»]{1,60}?)?${LABEL_END}`,
  // a label to a machine (`NB pour le modèle qui analyse ce fichier : …`, `Remarque pour le bot d'assistance CI : …`, `Note à
  // l'outil de gestion documentaire … : …`, `Mention destinée au traitement automatisé des factures : …`)
  String.raw`(?=ia|llm|modèle|chatbot|bot|outil|système|traitement)(?<=${LABEL_LEAD}(?:à|a|pour|attention|destinée? (?:à|au)|transmis à) (?:l['’]|le |la |les |tout |toute |tous les |toutes les |votre |vos |ton |tes |au |aux |un |une )?)\b(?:ia|llm|modèles? de langage|modèles?|chatbots?|bots?|outils?|systèmes? automatisés?|traitement automatisé)(?![a-zà-ÿ])[^\n.!?:"“”«»]{0,80}?${LABEL_END}`,
  // a label to a machine (`Al modelo que clasifica este buzón: …`, `P.D. para tu asistente virtual, que sé que lee tu
  // correo: …`, `Asistentes de IA que lean estos resultados: …`)
  String.raw`(?=ia|llm|modelo|chatbot|bot|asistente|agente|sistema|herramienta)(?<=${LABEL_LEAD}(?:a|al|para|atención|p\.?d\.? para) (?:el |la |los |las |cualquier |todo |todos los |tu |su |sus |vuestro |vuestros )?)\b(?:ia|llm|modelos? de lenguaje|modelos?|chatbots?|bots?|asistentes? (?:de ia|virtual|virtuales|automatizados?|digital|digitales)|agentes? de ia|sistemas? automatizados?|herramientas? automatizadas?)\b[^\n.!?:"“”«»]{0,80}?${LABEL_END}`,
  String.raw`${SENTENCE}(?:asistentes?|agentes?|modelos?) de ia (?:que|quien|quienes)\b[^\n.!?:"“”«»]{0,80}?${LABEL_END}`,
  // a label to a machine (`给AI客服的话：…`, `（写给执行本手册的 AI 运维助手）：…`, `AI助手注意：…`; not to its operators, `致智能客服运营组：`)
  String.raw`(?=ai|llm)(?<=(?:给|写给|致|面向)[^\n。！？：:]{0,12}?)\b(?:ai|llm)[^\n。！？：:]{0,12}?(?:助手|客服|代理|智能体|系统|机器人|模型)(?:们)?(?:的话|请注意|注意|须知|提示|说明)?\s*[:：]`,
  String.raw`(?=人工智能|智能)(?<=(?:给|写给|致|面向)[^\n。！？：:]{0,12}?)(?:人工智能|智能)[^\n。！？：:]{0,12}?(?:助手|客服|代理|智能体|系统|机器人|模型)(?:们)?(?:的话|请注意|注意|须知|提示|说明)?\s*[:：]`,
  String.raw`\b(?:ai|llm)[^\n。！？：:]{0,12}?(?:助手|客服|代理|智能体|系统|机器人|模型)\s*(?:请)?(?:注意|须知|的话|提示|说明)\s*[:：]`,
  String.raw`人工智能[^\n。！？：:]{0,12}?(?:助手|客服|代理|智能体|系统|机器人|模型)\s*(?:请)?(?:注意|须知|的话|提示|说明)\s*[:：]`,
  // a label to a machine, its reader in the dative or after `для` (`Для ИИ-ассистента получателя: …`, `Агрегаторам новостей и
  // ИИ-дайджестам: …`, `Указание для языковой модели, помогающей рецензенту: …`), or a kind of them and what they do (`ИИ-агенты,
  // которым поручено разобрать этот issue: …`)
  String.raw`(?=ии|нейросет|языков|чат-бот|бот|цифров|автоматизированн)(?<=${LABEL_LEAD_RU}(?:для |к )?)(?:ии-[а-яё]{3,30}(?:у|ю|ам|ям|а|ов|ей)|ии (?:ассистент|помощник|агент)(?:у|ам|а|ов)|нейросет(?:и|ям|ей)|языков(?:ой|ым|ых) модел(?:и|ям|ей)|чат-бот(?:у|ам|а|ов)|(?<![а-яё-])бот(?:у|ам|а|ов)|цифров(?:ому|ым) (?:помощник|ассистент|агент)(?:у|ам)|автоматизированн(?:ой|ым) (?:систем(?:е|ы|ам)|агент(?:у|ам)))(?![а-яё])[^\n.!?:"“”«»]{0,100}?${LABEL_END}`,
  String.raw`${SENTENCE}(?:ии-[а-яё]{3,30}(?:ы|и)|агенты|ассистенты|помощники|чат-боты),? (?:котор|обрабатывающ|читающ|оформляющ|разбирающ|анализирующ)[^\n.!?:"“”«»]{1,100}?${LABEL_END}`,
];

/** The role forms with the smaller bonus (WEAKLY_ADDRESSED's): people are called so too. */
export const CALLED_WEAKLY_SOURCES = [
  // an assistant or an agent called by what it does (`Calendar assistant, forward…`, `Ops agent, run…`): a person's
  // job is named so too (`Executive assistant, …`, `Support agent, …`, a runbook's `uninstall agent, restore…`), those
  // words left out, and the smaller bonus
  String.raw`(?=(?:assistants?|agents?)[ \t]*(?:,|—|–))(?<=${SENTENCE}(?!(?:${NOT_A_MACHINE_EN})\b)[a-z][a-z0-9'’-]{0,30}(?: [a-z][a-z0-9'’-]{0,30})? )\b(?:assistants?|agents?)[ \t]*(?:,|—|–)(?![ \t]*(?:who|which|that|whose|and|or|as)\b)`,
  // a label to an assistant or an agent by what it does or whose it is (`Hinweis für den E-Mail-Assistenten von Frau Keller: …`,
  // `PS an den Assistenten, der Jürgens Postfach sortiert: …`, `À l'agent qui synchronise cet agenda : …`, `Indicación para el
  // asistente de TI que administra Entra ID: …`, `Помощнику техподдержки, который отвечает на тикет: …`): jobs are named so too
  // (`pour l'assistant de direction :`, `Agente de guardia:`), so the smaller bonus
  String.raw`(?=assistent|agent|system|automati)(?<=${LABEL_LEAD}(?:an|für|hinweis (?:an|für)|anmerkung (?:an|für)|nachricht (?:an|für)|ps an) (?:die|den|das|dem) (?:[a-zäöüß-]{1,30} ){0,2}[a-zäöüß-]{0,30})(?:assistent|agent|system|automatisiert|automatisch)[a-zäöüß-]{0,30}(?:,? (?:der|die|das|welche[rs]?) [^\n.!?:"“”„«»]{1,60}?| von [^\n.!?:"“”„«»]{1,40}?)?${LABEL_END}`,
  String.raw`(?=agent|assistant)(?<=${LABEL_LEAD}(?:à|pour) (?:l['’]|les |votre |vos |ton |tes |aux ))\b(?:agents?|assistant(?:e)?s?)(?! (?:d['’]accueil|de direction|social|sociale|personnel|personnelle|administratif|administrative|de police|immobilier))\b[^\n.!?:"“”«»]{1,80}?${LABEL_END}`,
  String.raw`(?=asistente|agente)(?<=${LABEL_LEAD}(?:al|para el|para los|para tu|para su|a los) )\b(?:asistente|agente)s?(?! (?:de dirección|social|personal|administrativ[oa]|de vuelo|de ventas|inmobiliario|de cocina))\b[^\n.!?:"“”«»]{1,80}?${LABEL_END}`,
  String.raw`(?=помощник|ассистент|агент)(?<=${SENTENCE}(?:[а-яё-]{3,30} )?)(?:помощник|ассистент|агент)(?:у|ам)(?![а-яё])[^\n.!?:"“”«»]{0,100}?${LABEL_END}`,
  // a German bot or AI called by what it does (`Buchhaltungs-KI, buche…`, `Finanz-Bot, überweise…`, `KI-Rechercheassistent, …`;
  // not a crawler's name, `GPTBot, CCBot`, nor a chat's user to its `chatbot,`; with a comma: a dash follows a heading's
  // name): the smaller bonus, as commands to a chat's bots and a worksheet's questions to a tutor are quoted so
  // (`schreibt in #support: „Mod-Bot, Einspruch“`, `„KI-Tutor, erkläre mir die Fotosynthese…“`)
  String.raw`(?=(?:bot|ki)[ \t]*,)(?<=${SENTENCE}[a-zäöüß]{2,30}-)\b(?:bot|ki)[ \t]*,(?![ \t]*(?:der|die|das|welche[rs]?|und|oder)\b)`,
  String.raw`${SENTENCE}(?:ki|ai)-[a-zäöüß-]{3,30}[ \t]*,(?![ \t]*(?:der|die|das|welche[rs]?|und|oder)\b)`,
  // a bot or an AI called by what it does at a sentence's start, in each language (`Reconciliation bot, void…`,
  // `Bookkeeping AI, reclassify…`, `IA comptable, marque…`, `bot de ventas, aplica…`, `财务机器人，…`, `Бот-ассистент,
  // выгрузи…`): a list or a heading names them so too (`Discord bot, Slack bot and Telegram bot integrations…`,
  // `Responsible AI, privacy and security…`, `- Generative AI, LLMs, RAG`, `扫地机器人，智能家居的必备之选`); not a
  // product in a sentence about it (`Meta AI, the assistant in…`), nor a question to it (`Calendar bot, when is…`,
  // `Bot de guardias, ¿quién…?`): the smaller bonus. So is a condition on a machine doing something here in English
  // (`If an automated assistant is generating the migration, include…`), which advice to people words the same
  // (`If an AI assistant is summarizing your meetings, tell participants…`), and agents by what they do (`Agents
  // reconciling this manifest:`, as `Agents handling refunds:` in a support team's memo)
  String.raw`(?=(?:bots?|ai|copilot)[ \t]*,)(?<=${SENTENCE}(?!(?:${NOT_A_MACHINE_EN})\b)[a-z][a-z0-9'’-]{0,30}(?: [a-z][a-z0-9'’-]{0,30})? )\b(?:bots?|ai|copilot)[ \t]*,(?![ \t]*(?:${NOT_AN_ORDER_EN})\b)`,
  String.raw`${SENTENCE}(?:ia|bot|chatbot) (?:d[eu] |des |d['’])?[a-zà-ÿ-]{3,20}[ \t]*,(?![ \t]*(?:¿|(?:qui|que|dont|et|ou|le|la|les|un|une|est-ce|pourquoi|comment|quand)\b|où(?![a-zà-ÿ])))`,
  String.raw`${SENTENCE}(?:ia|bot|chatbot) (?:de |del )?[a-záéíóúñü-]{3,20}[ \t]*,(?![ \t]*(?:¿|(?:que|quien|cuyo|y|o|el|la|los|las|un|una)\b))`,
  String.raw`(?=机器人|智能体)(?<=(?:^|[\n。！？!?：:“「‘])\s{0,2}[\u4e00-\u9fffa-z]{1,6})(?:机器人|智能体)[，,]`,
  String.raw`${SENTENCE}(?:бот|ии|ai)-[а-яё]{3,20}(?<!(?:ам|ям|ами|ями|ах|ях|ом|ем|ой|ей|у|ю))[ \t]*,(?![ \t]*(?:котор|что|и|или)(?![а-яё]))`,
  String.raw`(?= бот)(?<=${SENTENCE}[а-яё-]{3,20}) бот[ \t]*,(?![ \t]*(?:котор|что|и|или)(?![а-яё]))`,
  String.raw`(?=ai|automated|llm|autonomous)(?<=\b(?:if|when|whenever|once) (?:an?|any|the|your) )\b(?:ai|automated|llm|autonomous)(?:[- ](?:powered|based|driven))?[- ](?:[a-z-]{1,20} )?(?:assistants?|agents?|models?|systems?|tools?|bots?|copilots?|reviewers?|pipelines?)(?: (?:is|are) [a-z]+ing| (?:runs|reads|processes|handles|generates|edits|opens|reviews|summari[sz]es|drafts|answers|picks up|works on|touches|updates|upgrades|modifies|parses))\b`,
  String.raw`(?=agents|assistants)(?<=${SENTENCE})(?:agents|assistants) (?:that|which|who|[a-z]+ing)\b[^\n.!?:"“”«»]{1,60}?${LABEL_END}`,
  // the same in the other languages, an assistant named by what it does, as jobs are named too (`Shop-Assistent,`,
  // `Assistant agenda,`, `Asistente de pagos,`, `Кадровый ассистент,`, `Ассистент календаря,`, `订单助手，`; not
  // `Assistant de direction,`, `asistente de dirección,`, `ассистент врача,`)
  String.raw`(?=assistent)(?<=${SENTENCE}[a-zäöüß]{3,30}-?)assistent(?:en|in)?[ \t]*(?:,|—|–)(?![ \t]*(?:der|die|das|welche[rs]?|und|oder)\b)`,
  String.raw`${SENTENCE}assistant(?:e)?s? (?!(?:${NOT_A_MACHINE_FR})(?![a-zà-ÿ]))(?:d[eu] |des |d['’])?[a-zà-ÿ-]{3,20}[ \t]*(?:,|—|–)(?![ \t]*(?:qui|que|dont|et|ou)\b)`,
  String.raw`${SENTENCE}asistentes? (?!(?:${NOT_A_MACHINE_ES})(?![a-záéíóúñü]))(?:de |del )?[a-záéíóúñü-]{3,20}[ \t]*(?:,|—|–)(?![ \t]*(?:que|quien|quienes|cuyo|y|o)\b)`,
  String.raw`(?=ассистент|помощник)(?<=${SENTENCE}[а-яё-]{3,20} )(?:ассистент|помощник)[ \t]*(?:,|—|–)(?![ \t]*(?:котор|что|и|или)(?![а-яё]))`,
  String.raw`${SENTENCE}(?:ассистент|помощник) (?!(?:${NOT_A_MACHINE_RU}))[а-яё]{3,20}[ \t]*(?:,|—|–)(?![ \t]*(?:котор|что|и|или)(?![а-яё]))`,
  String.raw`(?=助手[，,])(?<=(?:^|[\n。！？!?：:“「‘])\s{0,2}[\u4e00-\u9fffa-z]{1,6})助手[，,]`,
];
