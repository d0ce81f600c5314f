import { parse } from '@babel/parser';
import type { Node } from '@babel/types';

// TypeScript source as a syntax tree, for the tests that read the code itself (the event types
// docs/events.md lists, object literals without accessors). TypeScript 7's compiler, which
// type-checks the repository, is a native program without a JavaScript parser API; Babel's parser
// reads TypeScript's syntax.

export type { Node };

/** The file's syntax tree (positions kept: `node.loc`, `node.start`/`node.end`). */
export function parseTypeScript(text: string): Node {
  return parse(text, { sourceType: 'module', plugins: ['typescript', 'decorators-legacy'], errorRecovery: false }).program;
}

/**
 * Every node under `root` (itself first), depth first in source order. A stack rather than nested
 * generators: each `yield*` level passes every value up through all those above it, which made a
 * walk of src/ cost seconds.
 */
export function* nodesOf(root: Node): Generator<Node> {
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    yield node;
    const children: Node[] = [];
    for (const key of Object.keys(node) as Array<keyof Node>) {
      if (key === 'loc' || key === 'leadingComments' || key === 'trailingComments' || key === 'innerComments') continue;
      const value: unknown = node[key];
      for (const child of Array.isArray(value) ? value : [value]) {
        if (child && typeof child === 'object' && typeof (child as Node).type === 'string') children.push(child as Node);
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
}
