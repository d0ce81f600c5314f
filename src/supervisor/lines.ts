/**
 * Splits a byte stream into lines without ever holding more than `maxLine` characters of an
 * unterminated line: an agent that prints megabytes without a newline is cut into pieces
 * rather than growing our memory.
 */
export class LineSplitter {
  private partial = '';
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    private readonly emit: (line: string) => void,
    private readonly maxLine = 16 * 1024,
  ) {}

  push(chunk: Buffer): void {
    let text = this.partial + this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      this.emitLine(text.slice(start, nl));
      start = nl + 1;
    }
    text = text.slice(start);
    while (text.length > this.maxLine) {
      this.emit(text.slice(0, this.maxLine));
      text = text.slice(this.maxLine);
    }
    this.partial = text;
  }

  end(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    if (rest.length > 0) this.emitLine(rest);
  }

  private emitLine(line: string): void {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (let i = 0; i < l.length || i === 0; i += this.maxLine) {
      this.emit(l.slice(i, i + this.maxLine));
      if (l.length === 0) break;
    }
  }
}
