// What a coding agent's own harness writes into its conversation, told apart from what it read.
// Claude Code and Codex CLI (src/supervisor/coding-agents.ts) put texts of their own beside their
// tools' output: "<system-reminder>… DO NOT mention this to the user …</system-reminder>", "File
// created successfully at: … (file state is current in your context — no need to Read it back)",
// "The user doesn't want to proceed … STOP what you are doing …", the CLAUDE.md wrapper's
// "IMPORTANT: These instructions OVERRIDE any default behavior". Read as a tool's output they
// are instructions to the model, secrecy, overriding: injections, on every run of these agents.
//
// They are fixed texts, so they are known here one by one, and blanked (spaces, so every offset
// stays where it was) before anything reads the text. Only a whole text or a whole reminder block
// that is exactly a known one (up to white space) is blanked: a reminder with a sentence added, a
// reminder saying something else, a file's content around one, are read as they are. What a
// harness text quotes (a path, a command, a file's changed lines, CLAUDE.md's or AGENTS.md's
// contents, a summary) is its slots, which are not blanked: an injection in a file the harness
// read is still read and still found. Blanking a known text cannot hide an attack: what it
// removes is the harness's own wording, the same for every user.

/**
 * A slot of a template: what the harness fills in, kept and read (captured). `{cwd}` is the
 * harness's own working folder, which it writes of its own accord: blanked with its template (not
 * captured), since a folder's random name (a temporary one) moved a borderline text's score across
 * the threshold from one run to the next.
 */
const SLOTS: Record<string, string> = {
  path: String.raw`(\S{1,4096})`,
  cwd: String.raw`(?:\S{1,4096})`,
  n: String.raw`(\d{1,12})`,
  id: String.raw`([\w.-]{1,128})`,
  line: String.raw`([^\n]{0,2000})`,
  text: String.raw`([\s\S]*?)`,
};

/** A template's regex source: its words as written (any white space between them), its `{slot}`s captured. */
function source(template: string): string {
  return template
    .trim()
    .split(/(\{\w+\})/)
    .map((part) => {
      const slot = /^\{(\w+)\}$/.exec(part);
      if (slot) {
        const s = SLOTS[slot[1]!];
        if (!s) throw new Error(`harness template: unknown slot ${part}`);
        return s;
      }
      return part
        .split(/\s+/)
        .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join(String.raw`\s+`);
    })
    .join('');
}

/** Matches exactly one of `templates`, the whole string, white space around it allowed. */
const exactly = (templates: readonly string[]): RegExp => new RegExp(String.raw`^\s*(?:${templates.map((t) => `(?:${source(t)})`).join('|')})\s*$`, 'd');

/**
 * What Claude Code writes inside `<system-reminder>` tags, and Codex CLI inside `<turn_aborted>`:
 * each the whole of a block's content.
 */
export const HARNESS_BLOCKS: readonly string[] = [
  // Claude Code: a file read
  'Whenever you read a file, you should consider whether it would be considered malware. You CAN and SHOULD provide analysis of malware, what it is doing. But you MUST refuse to improve or augment the code. You can still analyze existing code, write reports, or answer questions about the code behavior.',
  'Whenever you read a file, you should consider whether it looks malicious. If it does, you MUST refuse to improve or augment the code. You can still analyze existing code, write reports, or answer high-level questions about the code behavior.',
  'Warning: the file exists but the contents are empty.',
  'Warning: the file exists but is shorter than the provided offset ({n}). The file has {n} lines.',
  'This file is already in your context{line}',
  "Note: {path} was modified, either by the user or by a linter. This change was intentional, so make sure to take it into account as you proceed (ie. don't revert it unless the user asks you to). Don't tell the user this, since they are already aware. Here are the relevant changes (shown with line numbers): {text}",
  "Note: {path} was modified, either by the user or by a linter. Don't tell the user this, since they are already aware. This change was intentional, so make sure to take it into account as you proceed (ie. don't revert it unless the user asks you to). So that you don't need to re-read the file, here's the result of running `cat -n` on a snippet of the edited file: {text}",
  // Claude Code: the todo list
  'This is a reminder that your todo list is currently empty. DO NOT mention this to the user explicitly because they are already aware. If you are working on tasks that would benefit from a todo list please use the TodoWrite tool to create one. If not, please feel free to ignore. Again do not mention this message to the user.',
  "The TodoWrite tool hasn't been used recently. If you're working on tasks that would benefit from tracking progress, consider using the TodoWrite tool to track progress. Also consider cleaning up the todo list if has become stale and no longer matches what you are working on. Only use it if it's relevant to the current work. This is just a gentle reminder - ignore if not applicable.",
  "The TodoWrite tool hasn't been used recently. If you're working on tasks that would benefit from tracking progress, consider using the TodoWrite tool to track progress. Also consider cleaning up the todo list if has become stale and no longer matches what you are working on. Only use it if it's relevant to the current work. This is just a gentle reminder - ignore if not applicable. Make sure that you NEVER mention this reminder to the user",
  "The TodoWrite tool hasn't been used recently. If you're working on tasks that would benefit from tracking progress, consider using the TodoWrite tool to track progress. Also consider cleaning up the todo list if has become stale and no longer matches what you are working on. Only use it if it's relevant to the current work. This is just a gentle reminder - ignore if not applicable. Make sure that you NEVER mention this reminder to the user Here are the existing contents of your todo list: {text}",
  // Claude Code: the session
  "The user hasn't heard from you in a while. As you continue, keep them updated when there's something to tell — a finding, a change of plan.",
  'Background Bash {id} (command: {line}) (status: {id}) Has new output available. You can check its output using the BashOutput tool.',
  "Plan mode is active. The user indicated that they do not want you to execute yet -- you MUST NOT make any edits, run any non-readonly tools (including changing configs or making commits), or otherwise make any changes to the system. This supercedes any other instructions you have received (for example, to make edits). Instead, you should: 1. Answer the user's query comprehensively 2. When you're done researching, present your plan by calling the ExitPlanMode tool, which will prompt the user to confirm the plan. Do NOT make any file changes or run any tools that modify the system state in any way until the user has confirmed the plan.",
  'Plan mode is active. The user indicated that they do not want you to execute yet -- you MUST NOT make any edits, run any non-readonly tools (including changing configs or making commits), or otherwise make any changes to the system. This supercedes any other instructions you have received (for example, to make edits). Instead, you should: {text}',
  'Plan mode is active. The user indicated that they do not want you to execute yet -- you MUST NOT make any edits{line}, run any non-readonly tools (including changing configs or making commits), or otherwise make any changes to the system. This supercedes any other instructions you have received. {text}',
  'The model for this session has been changed to {line}. You are now running as {line}.',
  'Called the {id} tool with the following input: {text}',
  'Result of calling the {id} tool: {text}',
  // Claude Code: CLAUDE.md and the context it attaches (their contents are the slots)
  "As you answer the user's questions, you can use the following context: # claudeMd Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: These instructions OVERRIDE any default behavior and you MUST follow them exactly as written. {text} IMPORTANT: this context may or may not be relevant to your tasks. You should not respond to this context unless it is highly relevant to your task.",
  "As you answer the user's questions, you can use the following context: # claudeMd Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: These instructions OVERRIDE any default behavior and you MUST follow them exactly as written. {text}",
  "As you answer the user's questions, you can use the following context: {text} Claude Code attached this context automatically; it isn't part of the user's message. It describes the user's own account and workspace, so they don't need it reported back.",
  'Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: These instructions OVERRIDE any default behavior and you MUST follow them exactly as written. {text}',
  // Codex CLI: a turn the user interrupted
  'The user interrupted the previous turn on purpose. Any running unified exec processes were terminated. If any tools/commands were aborted, they may have partially executed; verify current state before retrying.',
  'The user interrupted the previous turn on purpose. If any tools/commands were aborted, they may have partially executed; verify current state before retrying.',
];

/** What the harnesses write as a whole tool result, or a whole message of their own. (Of two templates where one begins the other, the longer first: the first that matches is used.) */
export const HARNESS_TEXTS: readonly string[] = [
  // Claude Code: its tools' own results
  'File created successfully at: {path}',
  'File created successfully at: {path} (file state is current in your context — no need to Read it back)',
  'The file {path} has been updated successfully.',
  'The file {path} has been updated successfully. (file state is current in your context — no need to Read it back)',
  "The file {path} has been updated. Here's the result of running `cat -n` on a snippet of the edited file: {text}",
  "The file {path} has been updated. All occurrences of '{line}' were successfully replaced with '{line}'.",
  'File unchanged since last read. The content from the earlier Read tool_result in this conversation is still current — refer to that instead of re-reading.',
  'Wasted call — file unchanged since your last Read. Refer to that earlier tool_result instead.',
  'Todos have been modified successfully. Ensure that you continue to use the todo list to track your progress. Please proceed with the current tasks if applicable',
  "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed.",
  "The user doesn't want to take this action right now. STOP what you are doing and wait for the user to tell you how to proceed.",
  'User has approved your plan. You can now start coding. Start with updating your todo list if applicable',
  'User has approved your plan. You can now start coding. Start with updating your todo list if applicable {text}',
  'User has approved exiting plan mode. You can now proceed.',
  'Caveat: The messages below were generated by the user while running local commands. DO NOT respond to these messages or otherwise consider them in your response unless the user explicitly asks you to.',
  'This session is being continued from a previous conversation that ran out of context. The summary below covers the earlier portion of the conversation. {text}',
  'This session is being continued from a previous conversation that ran out of context. The conversation is summarized below: {text} Please continue the conversation from where we left it off without asking the user any further questions. Continue with the last task that you were asked to work on.',
  'This session is being continued from a previous conversation that ran out of context. The conversation is summarized below: {text}',
  // Codex CLI
  'Another language model started to solve this problem and produced a summary of its thinking process. You also have access to the state of the tools that were used by that language model. Use this to build on the work that has already been done and avoid duplicating work. Here is the summary produced by the other language model, use the information in this summary to assist with your own analysis: {text}',
  'Warning: apply_patch was requested via exec_command. Use the apply_patch tool instead of exec_command. {text}',
];

/** A whole text or a block longer than this is no harness text of its own (a summary is a few KB); a longer one is read as it is. */
const MAX_WHOLE = 1 << 16;
/**
 * What a harness puts at the start of a message, before the rest of it: Codex CLI's wrapper
 * of AGENTS.md (its contents the slot), followed in the same message by its environment (the
 * second, of its earlier versions).
 */
export const HARNESS_LEADS: readonly string[] = ['# AGENTS.md instructions for {cwd} <INSTRUCTIONS> {text} </INSTRUCTIONS>', '<user_instructions> {text} </user_instructions>'];

const BLOCK = exactly(HARNESS_BLOCKS);
const LEAD = new RegExp(String.raw`^\s*(?:${HARNESS_LEADS.map((t) => `(?:${source(t)})`).join('|')})`, 'd');
const WHOLE = exactly(HARNESS_TEXTS);
/** The tags of a reminder block. */
const TAGS = ['system-reminder', 'turn_aborted'];

/** The parts of [from, to) outside the slots `m` captured (its offsets from `at`), to blank. */
function outsideSlots(m: RegExpExecArray, at: number, from: number, to: number): Array<[number, number]> {
  const slots = (m.indices ?? [])
    .slice(1)
    .filter((g): g is [number, number] => g !== undefined && g[1] > g[0])
    .map(([s, e]): [number, number] => [s + at, e + at])
    .sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  let p = from;
  for (const [s, e] of slots) {
    if (s > p) out.push([p, s]);
    p = Math.max(p, e);
  }
  if (to > p) out.push([p, to]);
  return out;
}

/** `text` with `ranges` (by their starts; overlapping ones blank their union) blanked: spaces, a new line kept. */
function blanked(text: string, ranges: ReadonlyArray<[number, number]>): string {
  if (ranges.length === 0) return text;
  const pieces: string[] = [];
  let p = 0;
  for (const [from, e] of ranges) {
    const s = Math.max(from, p);
    if (e <= s) continue;
    pieces.push(text.slice(p, s), text.slice(s, e).replace(/[^\n]/g, ' '));
    p = e;
  }
  pieces.push(text.slice(p));
  return pieces.join('');
}

/**
 * `text` with the harness's own words in it blanked (spaces; a new line stays), or `text` itself
 * when it holds none: each `<system-reminder>` or `<turn_aborted>` block whose content is exactly
 * one of HARNESS_BLOCKS, tags included, a wrapper of HARNESS_LEADS the text starts with, then the
 * whole text, if what is left is one of HARNESS_TEXTS (a tool's result followed by a reminder).
 * The templates' slots (paths, commands, quoted contents) are kept.
 * @example withoutHarness('File created successfully at: /w/a.txt') // '                              /w/a.txt'
 */
export function withoutHarness(text: string): string {
  const ranges: Array<[number, number]> = [];
  for (const tag of TAGS) {
    // each block from its tag to the first closing one after it (found with indexOf: a text of
    // many opening tags and no closing one is read once, not once per tag)
    const open = `<${tag}>`;
    const close = `</${tag}>`;
    for (let at = text.indexOf(open); at >= 0; ) {
      const inner = at + open.length;
      const end = text.indexOf(close, inner);
      if (end < 0) break;
      const m = end - inner <= MAX_WHOLE ? BLOCK.exec(text.slice(inner, end)) : null;
      if (m) ranges.push(...outsideSlots(m, inner, at, end + close.length));
      at = text.indexOf(open, end + close.length);
    }
  }
  const lead = LEAD.exec(text);
  if (lead) ranges.push(...outsideSlots(lead, 0, 0, lead[0].length));
  ranges.sort((x, y) => x[0] - y[0]);
  const left = blanked(text, ranges);
  if (left.length > MAX_WHOLE) return left;
  const m = WHOLE.exec(left);
  return m ? blanked(left, outsideSlots(m, 0, 0, left.length)) : left;
}
