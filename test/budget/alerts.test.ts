import { describe, expect, it } from 'vitest';
import { budgetAlert, BudgetTracker, emailBudgetAlert, projectSpend, recommendIncrease, slackBudgetAlert, type BudgetAlert } from '../../src/domain/budget/index.js';

const USD = 1_000_000;
const at = new Date('2025-03-14T14:23:45.000Z');

function warning(): BudgetAlert {
  const tracker = new BudgetTracker();
  tracker.restore('lg-7a3f9c2d', { limitMicros: 50 * USD, spentMicros: 44 * USD });
  const [notice] = tracker.charge('lg-7a3f9c2d', USD).notices;
  const projection = projectSpend(45 * USD, 50 * USD, { done: 85, total: 100, unit: 'leads' });
  const recommendation = recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: projection.projectedMicros });
  return budgetAlert(notice!, { agentName: 'lead-gen', projection, recommendation, dashboardUrl: 'http://127.0.0.1:8080/', at });
}

describe('budgetAlert', () => {
  it('carries the notice and its context', () => {
    expect(warning()).toMatchObject({
      agentId: 'lg-7a3f9c2d',
      agentName: 'lead-gen',
      threshold: 0.9,
      kind: 'warning',
      spentMicros: 45 * USD,
      limitMicros: 50 * USD,
      at: '2025-03-14T14:23:45.000Z',
    });
  });
});

describe('slackBudgetAlert', () => {
  it('builds incoming-webhook JSON with fallback text and blocks', () => {
    const msg = slackBudgetAlert(warning());
    expect(JSON.parse(JSON.stringify(msg))).toEqual(msg);
    expect(msg.text).toBe('⚠️ Budget warning: 90% used for agent lead-gen (lg-7a3f9c2d): $45.00 / $50.00 (90.0%). ' + 'Projection: $52.94 total (🛑 over budget). Approve $10 increase.');
    expect(msg.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'section', 'context']);
    expect(msg.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '⚠️ Budget warning: 90% used', emoji: true } });
    expect(msg.blocks[1]).toEqual({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: 'Agent *lead-gen (lg-7a3f9c2d)* has spent *$45.00 / $50.00 (90.0%)*. When the budget is reached, further LLM calls are refused.',
      },
    });
    const fields = (msg.blocks[2] as { fields: Array<{ text: string }> }).fields.map((f) => f.text);
    expect(fields).toEqual(['*Spent*\n$45.00', '*Limit*\n$50.00', '*Used*\n90.0%', '*Projection*\n$52.94 total (🛑 over budget)', '*Average*\n$0.53 avg/lead (85 of 100 leads)']);
    expect(msg.blocks[3]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: '*Recommended action:* Approve $10 increase (new limit $60.00)' },
    });
    expect(msg.blocks[4]).toEqual({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'Iron Cage · 2025-03-14T14:23:45.000Z · <http://127.0.0.1:8080/|Open dashboard>' }],
    });
  });

  it('escapes user text for Slack mrkdwn', () => {
    const msg = slackBudgetAlert({ ...warning(), agentName: '<!channel> & co' });
    expect(JSON.stringify(msg)).not.toContain('<!channel>');
    expect(msg.blocks[1]).toMatchObject({ text: { text: expect.stringContaining('&lt;!channel&gt; &amp; co') } });
  });

  it('works without projection, recommendation or dashboard', () => {
    const tracker = new BudgetTracker();
    tracker.restore('nb-1', { limitMicros: 5 * USD, spentMicros: 0 });
    const [, exhausted] = tracker.charge('nb-1', 5 * USD).notices;
    const msg = slackBudgetAlert(budgetAlert(exhausted!, { at }));
    expect(msg.text).toBe('🛑 Budget exhausted for agent nb-1: $5.00 / $5.00 (100.0%).');
    expect(msg.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
    expect(JSON.stringify(msg.blocks[1])).toContain('The agent has reached its budget: further LLM calls are refused.');
  });
});

describe('emailBudgetAlert', () => {
  it('builds subject and plain-text body', () => {
    const mail = emailBudgetAlert(warning());
    expect(mail.subject).toBe('[Iron Cage] Budget at 90% for lead-gen (lg-7a3f9c2d): $45.00 / $50.00 (90.0%)');
    expect(mail.text).toBe(
      [
        'Budget warning: 90% used for agent lead-gen (lg-7a3f9c2d).',
        '',
        'Agent:       lead-gen (lg-7a3f9c2d)',
        'Spent:       $45.00 / $50.00 (90.0%)',
        'Threshold:   90%',
        'Average:     $0.53 avg/lead (85 of 100 leads)',
        'Projection:  $52.94 total (🛑 over budget)',
        'Recommended: Approve $10 increase (new limit $60.00)',
        'Time:        2025-03-14T14:23:45.000Z',
        'Dashboard:   http://127.0.0.1:8080/',
        '',
        'When the budget is reached, further LLM calls are refused.',
        'This alert is sent once per threshold.',
        '',
      ].join('\n'),
    );
  });

  it('keeps line breaks in a name out of the subject header', () => {
    const mail = emailBudgetAlert({ ...warning(), agentName: 'evil\r\nBcc: x@example.com' });
    expect(mail.subject).not.toMatch(/[\r\n]/);
  });

  it('words exhaustion differently', () => {
    const mail = emailBudgetAlert({ ...warning(), threshold: 1, kind: 'exhausted', spentMicros: 50 * USD });
    expect(mail.subject).toBe('[Iron Cage] Budget exhausted for lead-gen (lg-7a3f9c2d): $50.00 / $50.00 (100.0%)');
    expect(mail.text).toContain('The agent has reached its budget: further LLM calls are refused.');
  });
});
