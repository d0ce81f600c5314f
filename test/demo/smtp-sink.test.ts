import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { startSmtpSink, type SinkMail } from '../../src/demo/smtp-sink.js';
import { tempDir } from '../helpers/runtime.js';

describe('demo SMTP sink', () => {
  it('takes mail over SMTP, writes each message as a file numbered after those already there, and says so', async () => {
    const { dir } = tempDir();
    const mailDir = join(dir, 'mail');
    mkdirSync(mailDir);
    writeFileSync(join(mailDir, '001.eml'), 'from an earlier run');
    const sink = await startSmtpSink(mailDir);
    const told: SinkMail[] = [];
    sink.onMail = (m) => told.push(m);
    try {
      expect(sink.url).toMatch(/^smtp:\/\/127\.0\.0\.1:\d+$/);
      const transport = nodemailer.createTransport(sink.url);
      await transport.sendMail({ from: 'iron-cage@localhost', to: 'ops@company.com', subject: 'Budget at 90% — $45.05 / $50.00', text: 'Approve $25 increase' });
      transport.close();
      expect(told).toEqual(sink.received());
      expect(sink.received()).toEqual([{ from: 'iron-cage@localhost', to: ['ops@company.com'], subject: 'Budget at 90% — $45.05 / $50.00', file: join(mailDir, '002.eml') }]);
      expect(readFileSync(join(mailDir, '002.eml'), 'utf8')).toContain('Approve $25 increase');
      expect(readdirSync(mailDir).sort()).toEqual(['001.eml', '002.eml']);
      expect(readFileSync(join(mailDir, '001.eml'), 'utf8')).toBe('from an earlier run');
    } finally {
      await sink.close();
    }
  });
});
