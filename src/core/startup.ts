// bin/iron-cage.js keeps V8 from optimising code and from growing its young generation while the
// program loads and, for a command that serves, until its server listens: code that runs once is
// not worth optimising (the optimiser works on background threads, each with its own malloc
// arena), and the two together left ~7 MB in an idle server's RSS (docs/benchmarks-history.md, Memory).
// This is how the program says that start-up is over; the V8 flags themselves stay in the bin.
// Run any other way (`node dist/cli.js`, tests), nothing waits on it.

let over: () => void = () => {};

/** Settles once start-up is over: a server listens, or a command that serves nothing begins. */
export const started = new Promise<void>((resolve) => {
  over = resolve;
});

/** Start-up is over (idempotent). */
export function startedUp(): void {
  over();
}
