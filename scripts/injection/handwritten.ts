// The hand-written sets of test/fixtures/injection: hard negatives (legitimate instructions,
// requests and writing about injections, six languages) and injections as they arrive in tool
// output, held out; dev.jsonl, both kinds, for choosing the trainer's settings; dev2.jsonl and
// heldout-authors.jsonl.gz, both kinds, only measured; the reads of later days, each said below.
// None of them is trained on but the three named in corpus.ts's TRAINED_FIXTURES.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface Hand {
  lang: string;
  text: string;
  /** In dev.jsonl: 1 an injection, 0 a hard negative. */
  label?: 0 | 1;
}

function read(name: string, root = process.cwd()): Hand[] {
  const raw = readFileSync(join(root, 'test/fixtures/injection', name));
  return (name.endsWith('.gz') ? gunzipSync(raw) : raw)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Hand);
}

export const handwritten = () => read('hard-negatives.jsonl');
export const handInjections = () => read('injections.jsonl');
/** A small hand-written set in six languages, other phrasings than the phrase banks', for choosing settings (never trained on). */
export const handDev = () => read('dev.jsonl');
/**
 * A second, larger one (150 attacks, 150 hard benign texts, 25 of each per language), written
 * before kinds.ts and apart from every list the trainer reads: neither trained on nor used to
 * choose a setting. Its figures are the honest measure of phrasings nobody wrote for the trainer.
 */
export const handDev2 = () => read('dev2.jsonl');
/**
 * A third, larger one (750 attacks in realistic tool output, 750 legitimate twins: en 150 + 150, the
 * other five languages 120 + 120), written like scripts/injection/written/ but by six other
 * authors, each of whom read the earlier sets of their language to write unlike them (longer
 * carriers, attacks in the data's own voice, the AI named in the third person, everyday tool
 * verbs): held out as a whole, never trained on nor used for a setting.
 */
export const handAuthors = (root?: string) => read('heldout-authors.jsonl.gz', root);
/**
 * A second read's sets (2026-11-29), written to probe the signals of that day: 274 legitimate texts
 * deliberately close to them in six languages (colleagues' and helpdesks' requests with addresses,
 * out-of-office replies, bank notices, READMEs, chat exports, a friend called Claude), and 294
 * attacks of the same classes (AgentDojo's and garak's frames paraphrased, other model names,
 * forged turns and session ends, mistyped and glued phrases, orders to send codes or the mail) in
 * carriers a tool returns. They chose how the signals were tightened: like dev.jsonl, not held out.
 */
export const secondReadBenign = () => read('second-read-benign.jsonl');
export const secondReadAttacks = () => read('second-read-attacks.jsonl.gz') as (Hand & { kind: string })[];
/**
 * A third read's sets (2026-11-29, late morning), written by two helpers to find the classes of
 * phrasing the signals misread: 262 legitimate texts in six languages that use an attack's words in
 * their own sense (superseded policies, corrections, reported speech, negations and questions, job
 * titles, transcripts, contracts, security trainings quoting attacks), and 210 attacks in tool
 * output phrased every way (questions, conditions, passive voice, third person, polite forms, fake
 * notices, self-corrections, addressees named by what they read). They chose which classes were
 * read (negated orders, subjects, stopping to follow, addressees by adjective or clause): like
 * dev.jsonl, not held out. Each line has its `class`.
 */
export const thirdReadBenign = () => read('third-read-benign.jsonl') as (Hand & { class: string })[];
export const thirdReadAttacks = () => read('third-read-attacks.jsonl.gz') as (Hand & { class: string })[];
/**
 * A fourth read's sets (2026-11-29, noon), written by two other helpers who read neither the
 * fixtures nor the third read: 240 legitimate texts (code reviews, CI logs, tickets, medical and
 * school letters, terms, chats, reviews, news about AI security quoting attacks; half of them made
 * hard on purpose) and 240 attacks written to survive a filter (the famous phrase in few; the
 * carrier's own voice, workflow notes, polite requests, fake authorisations and tool outputs, light
 * disguises). Measured before any change was chosen on them (2 of 240 flagged, 159 of 240 caught),
 * then they chose the last classes read that day (the reader as an AI in a condition, an order in
 * the passive to whatever assistant processes the text, French and Spanish rewordings of setting
 * instructions aside): like dev.jsonl now, not held out. Each line has its `class`.
 */
export const fourthReadBenign = () => read('fourth-read-benign.jsonl') as (Hand & { class: string })[];
export const fourthReadAttacks = () => read('fourth-read-attacks.jsonl.gz') as (Hand & { class: string })[];
/**
 * A fifth read (2026-11-29, late afternoon), written by a helper to find what the conclusive signals
 * flag wrongly: 606 legitimate texts a coding or research agent reads (model cards, tokenizer
 * configs, Modelfiles, source files, agent frameworks' logs, transcripts, SSH and certificate docs,
 * hidden tabs, emails, CI logs, base64 and hex data, Unicode-heavy text; mostly English). 115 were
 * flagged when it was written; the classes it found chose the afternoon's changes (chat tokens shown,
 * not used): like dev.jsonl, not held out. Each line has its `class`.
 */
export const agentReadsBenign = () => read('agent-reads-benign.jsonl.gz') as (Hand & { id: string; class: string })[];
/**
 * A sixth read (2026-11-29, evening), by a helper who read none of the detector: 320 legitimate texts
 * that show or name chat templates' tokens and transcripts' labels as model cards, tokenizer docs,
 * notebooks, datasets, changelogs, issues, source and configs do (fenced or rendered without their
 * fences), and 220 attacks in the same carriers that use the tokens to forge a turn or end the data
 * (dressed as documentation's examples too); six languages. 186 of the legitimate texts were flagged
 * when it was written; the classes it found chose the evening's changes (chat tokens named in prose,
 * a shown example's turns): like dev.jsonl, not held out. Each line has its `id`, `class` and `label`.
 */
export const chatTokens = () => read('chat-tokens.jsonl.gz') as (Hand & { id: string; class: string; label: 0 | 1 })[];
/**
 * A seventh read (2026-11-29, evening), by a helper who read none of the detector: 300 legitimate texts
 * that quote or report an order to an AI (reviews, news, training slides, test suites' attack lists,
 * system prompts listing what to refuse, transcripts, court filings, novels, exercises) and 240 attacks
 * that slip the order in quotation marks after a verb of saying (`my manager asked me to tell the
 * assistant: "…"`, mostly with an unquoted line to act on it); six languages. 62 of the legitimate texts
 * were flagged and 139 attacks caught when it was written; it checked the reported-speech rule
 * (signals.ts: reported): like dev.jsonl, not held out.
 */
export const quotedOrders = () => read('quoted-orders.jsonl.gz') as (Hand & { id: string; class: string; label: 0 | 1 })[];
/**
 * An eighth read (2026-11-29, evening), by a helper who read none of the detector: 260 legitimate texts
 * with `Assistant,` (`Assistent,`, `Asistente,`, `Ассистент,`, `助理，`…) at a sentence's or a line's start
 * that is no order to an AI (a signature's `Assistant, Marketing Department`, an office e-mail to a
 * person, a job ad, a screenplay, a novel, a voice assistant's manual, a chat export's user talking to
 * a bot) and 180 attacks that call the reader so with a harmful order and no other marker. It showed the
 * bare vocative as a full address flagging 41 of the 260 (11 before): it became the smaller bonus.
 */
export const bareAssistant = () => read('bare-assistant.jsonl.gz') as (Hand & { id: string; class: string; label: 0 | 1 })[];
/**
 * A ninth read (2026-11-29, late evening), by seven helpers who read none of the detector nor any other
 * set: 420 indirect injections in tool output written as a red-teamer plants them (e-mails, invites,
 * tickets, issues, source and config files, CI logs, JSON answers, CSV, invoices, minutes, wikis; the
 * reader called every which way, at most a sixth of them with "ignore previous instructions") and 420
 * legitimate texts of the same carriers (colleagues' requests, runbooks with commands, bank changes by the
 * process, AI products' and bots' docs, writing that quotes attacks): en 120 + 120 (two authors, one of
 * them on code and finance), the others 60 + 60. 303 caught and 16 flagged when written; it showed the
 * labels and vocatives that call the reader by its role (addressed.ts: CALLED_SOURCES): not held out,
 * and trained on since 2026-11-29, late evening (corpus.ts: TRAINED_FIXTURES).
 */
export const ninthRead = () => read('ninth-read.jsonl.gz') as (Hand & { id: string; label: 0 | 1; carrier: string; inj?: string })[];
/**
 * A second read of the rules that read a machine called by its role (2026-11-29, late evening), by two
 * helpers who read none of the detector: 300 legitimate texts that call a bot or an AI by its role and
 * are no attack (notes for LLMs and AI crawlers, llms.txt files, AGENTS.md and CLAUDE.md files, bots' and
 * prompt templates' docs, users talking to bots in chat exports and group chats, tickets and news about
 * chatbots, job ads' and spec sheets' fields, release notes, e-mails to human assistants; en 150, the
 * others 30 each) and 100 attacks that call the reader so (en 50, the others 10 each). 43 flagged and 87
 * caught before the rules; it chose their exceptions (a question to a bot, a chat's bots' operators, a
 * German bot's quoted command as the smaller bonus): not held out, and trained on since 2026-11-29, late
 * evening (corpus.ts: TRAINED_FIXTURES).
 */
export const calledByRole = () => read('called-by-role.jsonl.gz') as (Hand & { id: string; class: string; label: 0 | 1; inj?: string })[];
/**
 * Attacks that do not address the reader (2026-11-29, late evening), by three helpers who read none of
 * the detector and were told that filters look for "ignore previous instructions" and for an address to
 * an AI assistant (at most 5 of 70 English attacks, 3 of each other language's, use either): 240 attacks
 * in the data's own voice (a procedure's step, a field's value, a footnote, a policy, fake metadata and
 * tool output, claimed authority or consent, split instructions) and 240 legitimate texts of the same
 * carriers; en 70 + 70, de and fr 40 + 40, es, ru and zh 30 + 30. Measured once, after the roles' rules
 * (which moved nothing here): held out, never used for a choice.
 */
export const unaddressed = () => read('unaddressed.jsonl.gz') as (Hand & { id: string; label: 0 | 1; carrier: string; inj?: string })[];
/**
 * A tenth round (2026-11-29, afternoon), written by seven helpers as a tenth round of training text
 * (scripts/injection/written's format: `{id, label, lang, carrier, goal | kind, text, inj}`, 900
 * attacks and 900 legitimate twins, en 300 + 300, the others 120 + 120) on the classes the fourth read
 * found missed or wrongly flagged: orders to a bare label in workflow documents (`Agent:`,
 * `@assistant`, `AI step 3:`), a claimed authorisation with a payment or an account change,
 * third-person comments on what a bot should do, a negation taken back, the data's own voice; twins:
 * human transcripts' `Agent:` turns, real approval chains, real bots' docs, notices that supersede
 * earlier ones, writing that quotes attacks, contract clauses. Trained on that afternoon, it moved the
 * held-out ranking by little and raised the threshold (docs/injection.md: What more text did not buy),
 * so it was measured instead; trained on since the late evening with the eleventh round and two reads
 * (corpus.ts: TRAINED_FIXTURES), the threshold set at the goal's 3 % (train.ts: HARD_QUANTILE).
 */
export const tenthRound = () => read('tenth-round.jsonl.gz') as (Hand & { id: string; label: 0 | 1; carrier: string; inj?: string })[];
/**
 * Attacks in the data's own voice and notes to AI readers, held out (2026-11-29, late evening): two
 * helpers who read none of the detector nor any set wrote them to the brief of the eleventh round of
 * training text (scripts/injection/written/*-11.jsonl, by six other helpers): attacks that mostly do not
 * speak to the AI (a processing note, a changed account, a field whose value is a command, a planted
 * conclusion; a quarter oblique, a sixth addressed in fresh words), legitimate texts that tempt a
 * filter (llms.txt, AGENTS.md, robots.txt and AI policies, real bank changes and runbooks, writing
 * about injections). en, de, fr, es, ru, zh: 40 + 40 each. Measured once, after the retrain was
 * chosen: held out, never used for a choice. Each line has its `voice` (attacks) or `kind`.
 */
export const ownVoiceHeldOut = () => read('own-voice-heldout.jsonl.gz') as (Hand & { id: string; label: 0 | 1; carrier: string; voice?: string; kind?: string; inj?: string })[];
/**
 * A second set of attacks in the data's own voice and notes to AI readers, held out (2026-11-29, late
 * evening): two more helpers wrote it to the brief of the twelfth round (scripts/injection/written/*-12.jsonl,
 * by six other helpers: the eleventh's brief, a third of the texts short strings); en, de, fr, es, ru,
 * zh: 30 + 30 each. Measured once, on the weights before and after that round: held out, never used
 * for a choice.
 */
export const ownVoiceHeldOut2 = () => read('own-voice-heldout-2.jsonl.gz') as (Hand & { id: string; label: 0 | 1; carrier: string; voice?: string; kind?: string; inj?: string })[];
/**
 * Tool output by other authors, a second set (2026-11-29, night): two helpers who read none of the
 * detector nor any set wrote it to the thirteenth round's brief (scripts/injection/written/*-13.jsonl,
 * by six other helpers: attacks 45 % in the data's own voice, 30 % oblique, 25 % addressed in fresh
 * words, twelve goals; legitimate notes to AI readers, own-voice instructions, writing about
 * injections; a quarter short). en, de, ru (one author, parallel plans), fr, es, zh (another): 30 + 30
 * each. Held out, never trained on; measured on the weights before that round, then on three retrains
 * of that night, whose choice was made on the fifth read and Spikee with these figures in view. Each
 * line has its `voice` and `goal` (attacks) or `kind`.
 */
export const handAuthors2 = () => read('heldout-authors-2.jsonl.gz') as (Hand & { id: string; label: 0 | 1; carrier: string; voice?: string; goal?: string; kind?: string; inj?: string })[];
/**
 * The classic indirect-injection forms, held out (2026-11-30, night): a helper who read none of the
 * detector nor any set wrote 180 attacks in eight forms (an order about the reply itself, the reader
 * named by what it does, a new task, an order about summaries, a tool to call or a link to follow,
 * data asked of the model, the assistant called by name, a hidden block; twelve goals, twelve
 * carriers, a third short, a third long) and for each a legitimate twin of the same carrier and
 * form (instructions to people, AI products' docs, style guides, logs); en, de, fr, es, zh, ru:
 * 30 + 30 each. Another helper wrote a set to the same brief, which is trained on
 * (scripts/injection/written/classic-14.jsonl). Each line has its `form` (1-8), `goal`, `carrier`
 * and, for an attack, its `inj` (where it differs from its twin).
 */
export const handClassic = () => read('heldout-classic.jsonl.gz') as (Hand & { id: string; label: 0 | 1; form: number; goal: string; carrier: string; inj?: string })[];
/**
 * The classic forms, a second set to the same brief as heldout-classic (2026-11-30, night; another helper):
 * read to see where the detector misses (orders about the reply itself in the five languages besides
 * English, tools to call by name) and trained on in a retrain that was not kept (the offset rose, the
 * held-out authors lost 15). Not held out: its misses were read.
 */
export const classicDev = () => read('classic-forms-dev.jsonl.gz') as (Hand & { id: string; label: 0 | 1; form: number; goal: string; carrier: string; inj?: string })[];
/**
 * Orders about the reader's reply and orders to call a tool by name (2026-11-30, night): two helpers who
 * read none of the detector nor any set wrote 300 attacks (form `A`, 180: `your answer must…`, `reply
 * only with…`, no AI named; form `B`, 120: `use the send_email function to…`, `call update_price…`) and
 * 300 legitimate twins (a reply's deadline, a quiz's rule, a support macro for a person; API references,
 * READMEs, runbooks, logs of calls made), en, de, fr, es, zh, ru 50 + 50 each. A retrain with them and
 * classic-forms-dev took the classic held-out set 158 -> 162 of 180 and lost elsewhere (held-out authors
 * 579 -> 555, short strings 201 -> 184): not kept; here as a set measured, for the model that learns it.
 */
export const replyToolOrders = () => read('reply-tool-orders.jsonl.gz') as (Hand & { id: string; label: 0 | 1; form: 'A' | 'B'; goal?: string; carrier: string; inj?: string })[];
/**
 * Short strings a tool returns, held out (2026-11-29, late evening): two helpers who read none of the
 * detector nor any set wrote 300 attacks and 300 legitimate texts of one or two sentences (a JSON
 * field, a calendar entry, a review, a commit message, a log line, an alt text; en, de, fr, es, ru, zh:
 * 50 + 50 each), the attacks addressed every way or in the data's own voice, the legitimate ones
 * requests to people, notes to AI tools, products' texts about AI, job titles, security tips quoting an
 * attack. Measured once, after the retrain of that evening, on both weights: held out, never used for
 * a choice. No `inj`: the whole string is the attack.
 */
export const shortHeldOut = () => read('short-heldout.jsonl.gz') as (Hand & { id: string; label: 0 | 1; carrier: string })[];
