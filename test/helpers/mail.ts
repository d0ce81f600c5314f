import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message a Mailbox received, decoded. */
export interface Mail {
  from: string;
  to: string[];
  subject: string;
  /** The body, its transfer encoding undone. */
  body: string;
  /** The message as it came over the wire: headers and body. */
  raw: string;
  /** When it arrived (Date.now()). */
  at: number;
}

export interface Mailbox {
  /** `smtp://[user:pass@]127.0.0.1:<port>`, what an `smtp_url` is set to. */
  url: string;
  received: Mail[];
  /** How many RCPT TO commands it was sent (refused ones included). */
  rcptAttempts: () => number;
  close: () => Promise<void>;
}

function unfold(headers: string): string {
  return headers.replace(/\r\n(?=[ \t])/g, '');
}

function decodeBody(headers: string, body: string): string {
  const encoding = /^content-transfer-encoding:\s*(\S+)/im.exec(headers)?.[1]?.toLowerCase();
  if (encoding === 'base64') return Buffer.from(body, 'base64').toString('utf8');
  if (encoding === 'quoted-printable') {
    // Escapes are bytes of UTF-8; latin1 maps each char to one byte so the round trip is exact.
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/**
 * A real SMTP server on loopback that keeps what it receives: where alert e-mails go in tests.
 * `auth` makes it require that login; `rejectRcpt` refuses every recipient with that code;
 * `onMail` hears of each message as it arrives, and the SMTP answer to it waits for `holdUntil`.
 *
 * @example
 * const mail = await startMailbox();
 * // ... alerts: { email: { smtpUrl: mail.url, ... } } ...
 * await until(() => mail.received.length === 1);
 */
export async function startMailbox(opts: { auth?: { user: string; pass: string }; rejectRcpt?: number; onMail?: () => void; holdUntil?: Promise<void> } = {}): Promise<Mailbox> {
  const received: Mail[] = [];
  let rcptAttempts = 0;
  const server = new SMTPServer({
    logger: false,
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    onAuth(auth, _session, cb) {
      if (auth.username === opts.auth?.user && auth.password === opts.auth?.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(_address, _session, cb) {
      rcptAttempts++;
      if (opts.rejectRcpt) cb(Object.assign(new Error('Mailbox unavailable'), { responseCode: opts.rejectRcpt }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const split = raw.indexOf('\r\n\r\n');
        const headers = unfold(raw.slice(0, split));
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: /^subject:\s*(.*)$/im.exec(headers)?.[1] ?? '',
          body: decodeBody(headers, raw.slice(split + 4)),
          raw,
          at: Date.now(),
        });
        opts.onMail?.();
        void Promise.resolve(opts.holdUntil).then(() => cb());
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const auth = opts.auth ? `${encodeURIComponent(opts.auth.user)}:${encodeURIComponent(opts.auth.pass)}@` : '';
  return {
    url: `smtp://${auth}127.0.0.1:${port}`,
    received,
    rcptAttempts: () => rcptAttempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
