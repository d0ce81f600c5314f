// What yargs would misread in a command line, found in its words as typed (before `--`: what
// follows is the agent's): program.ts refuses each in one line, exit 2.

/** The words before `--`. */
function ownWords(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}

/** A long option's name as typed (`--no-exit`, `--panelCa=x`), without `no-` and in its kebab-case form (`exit`, `panel-ca`). */
function optionName(arg: string): string {
  return arg
    .slice(2)
    .split('=', 1)[0]!
    .replace(/^no-/, '')
    .replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * The first long option given twice (`--config a.yaml --config b.yaml`), by its name as typed
 * without `no-`; null when none is. Every option takes one value: yargs would hand a command an
 * array it never expects (a stack trace), or read one of the two.
 *
 * @example repeatedOption(['serve', '--port', '1', '--port=2']) // 'port'
 */
export function repeatedOption(argv: readonly string[]): string | null {
  const seen = new Set<string>();
  for (const arg of ownWords(argv)) {
    if (!arg.startsWith('--')) continue;
    const name = optionName(arg);
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return null;
}

/**
 * The first switch given a value other than true or false (`--verbose=maybe`), or null: yargs
 * reads any but `true` as false (`--exit=yes`, `--verbose=1`).
 *
 * @example switchValue(['start', 'a.py', '--exit=yes'], new Set(['exit'])) // { name: 'exit', value: 'yes' }
 */
export function switchValue(argv: readonly string[], switches: ReadonlySet<string>): { name: string; value: string } | null {
  for (const arg of ownWords(argv)) {
    const m = /^--(?:no-)?([^=]+)=(.*)$/s.exec(arg);
    if (m && switches.has(m[1]!) && m[2] !== 'true' && m[2] !== 'false') return { name: m[1]!, value: m[2]! };
  }
  return null;
}

/**
 * The first number option given no number, or null: yargs reads `--reveal` alone as none and
 * `--after=` as 0. `parsed`: what yargs made of the words.
 *
 * @example numberMissing(['audit', 'pii', '--reveal'], ['reveal'], {}) // 'reveal'
 */
export function numberMissing(argv: readonly string[], numbers: readonly string[], parsed: Record<string, unknown>): string | null {
  const words = ownWords(argv);
  return numbers.find((name) => (words.includes(`--${name}`) ? parsed[name] === undefined : words.includes(`--${name}=`))) ?? null;
}

/**
 * The actions an option's help reserves it for (`For create: …`, `For add and rm: …`, `For set,
 * rotate, rm: …`, and each later `; for revoke: …`), or null when it is every action's.
 *
 * @example actionsOf("For create: the token's name; for revoke: its id or name") // ['create', 'revoke']
 */
export function actionsOf(description: string | undefined): string[] | null {
  const text = description ?? '';
  if (!/^For [a-z]+(?:(?:, | and )[a-z]+)*(?::| \[)/.test(text)) return null;
  const actions: string[] = [];
  for (const m of text.matchAll(/(?:^|; )[Ff]or ([a-z]+(?:(?:, | and )[a-z]+)*)(?::| \[)/g)) actions.push(...m[1]!.split(/, | and /));
  return actions;
}

/**
 * The first option typed that the command's `action` does not take (its help says which do),
 * or null: `token list --role admin` listed every token, as if the role filtered them.
 *
 * @example optionOfAnotherAction(['token', 'list', '--role', 'admin'], 'list', { role: 'For create [default: agent]' }) // { name: 'role', actions: ['create'] }
 */
export function optionOfAnotherAction(argv: readonly string[], action: string, descriptions: Readonly<Record<string, string | undefined>>): { name: string; actions: string[] } | null {
  for (const arg of ownWords(argv)) {
    if (!arg.startsWith('--')) continue;
    const name = optionName(arg);
    const actions = actionsOf(descriptions[name]);
    if (actions !== null && !actions.includes(action)) return { name, actions };
  }
  return null;
}
