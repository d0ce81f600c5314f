import { readdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeFolders } from '../state/index.js';

// The demo's stand-in for a company mail server: the product's own alerts.email channel
// delivers the budget e-mail here over real SMTP, and each message lands as an .eml file the
// presenter can open (the demo prints the path). Loopback only, no TLS, no auth: it is a demo.

/** One message as it arrived. */
export interface SinkMail {
  from: string;
  to: string[];
  subject: string;
  /** Where the raw message (RFC 5322, as received) was written. */
  file: string;
}

export interface SmtpSink {
  /** For the config: `alerts.email.smtp_url`. */
  url: string;
  /** Where the messages are written. */
  dir: string;
  received(): SinkMail[];
  /** Called for each message once it is on disk. */
  onMail: ((mail: SinkMail) => void) | null;
  close(): Promise<void>;
}

/** Unfold RFC 5322 continuation lines so a long Subject reads as one. */
const headerValue = (head: string, name: string): string => {
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  return new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(unfolded)?.[1]?.trim() ?? '';
};

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=` / `?B?`), which nodemailer uses for non-ASCII subjects. */
function decodeWords(s: string): string {
  return s.replace(/=\?([^?]+)\?([bqBQ])\?([^?]*)\?=\s*/g, (_m, _charset: string, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        ).toString('utf8'),
  );
}

/**
 * Start the sink on 127.0.0.1 (an ephemeral port unless one is given); messages go to `dir`.
 *
 * @example
 * const sink = await startSmtpSink('./iron_demo.files/mail');
 * // config: alerts: { email: { to: 'ops@company.com', smtp_url: sink.url } }
 * sink.onMail = (m) => console.log(`e-mail "${m.subject}" in ${m.file}`);
 * await sink.close();
 */
export async function startSmtpSink(dir: string, port = 0): Promise<SmtpSink> {
  makeFolders(dir, 0o700);
  const mails: SinkMail[] = [];
  // Numbered after what an earlier run (demo --keep) left, never over it.
  let seq = readdirSync(dir).filter((f) => f.endsWith('.eml')).length;
  const sink: SmtpSink = { url: '', dir, received: () => [...mails], onMail: null, close: async () => {} };
  const { SMTPServer } = await import('smtp-server');
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    banner: 'iron-cage demo mail sink',
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = raw.toString('utf8');
        const head = text.slice(0, Math.max(0, text.indexOf('\r\n\r\n')));
        const file = join(dir, `${String(++seq).padStart(3, '0')}.eml`);
        try {
          writeFileSync(file, raw, { mode: 0o600 });
        } catch (err) {
          cb(Object.assign(new Error(`sink cannot write ${file}`), { responseCode: 451, cause: err }));
          return;
        }
        const mail: SinkMail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: decodeWords(headerValue(head, 'subject')),
          file,
        };
        mails.push(mail);
        cb();
        sink.onMail?.(mail);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  sink.url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
