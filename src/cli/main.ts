import { hideBin } from 'yargs/helpers';
import { PROCESS_IO, run } from './program.js';

// The program's entry (dist/cli.js, which bin/iron-cage.js imports): the command line
// (./program.ts) on this process's arguments, stdio and exit. Tests run the same program
// in-process with their own (test/helpers/cli.ts).

// bin/iron-cage.js gives V8 its usual tuning back when this settles (core/startup.ts).
export { started } from '../core/startup.js';

void run(hideBin(process.argv), PROCESS_IO);
