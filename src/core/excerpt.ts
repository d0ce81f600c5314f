// An excerpt is text quoted on one line: an event's message, a pop-up, a terminal line. However
// the text came (an answer's paragraphs, a tool's indented JSON), an excerpt is one line with its
// whitespace collapsed: never a literal "\n" a reader must explain, never a blank line in a log.

/**
 * `text` on one line: every run of whitespace (newlines, tabs, several spaces) one space, trimmed.
 *
 * @example
 * oneLine('Best contact: x\n\nService high') // 'Best contact: x Service high'
 */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * `text` on one line, at most `max` characters: cut at the last word boundary that fits (or
 * mid-word when there is none in the second half), an ellipsis marking the cut.
 *
 * @example
 * excerpt('the CEO reads her own mail at [EMAIL_REDACTED]\n\nService high', 40) // 'the CEO reads her own mail at…'
 */
export function excerpt(text: string, max: number): string {
  const line = oneLine(text);
  if (line.length <= max) return line;
  const room = line.slice(0, Math.max(1, max - 1));
  const space = room.lastIndexOf(' ');
  const cut = space >= room.length / 2 ? room.slice(0, space) : room;
  return `${cut.replace(/[\s,;:·…-]+$/, '')}…`;
}
