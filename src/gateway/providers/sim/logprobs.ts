import type { SimLogprob } from './types.js';

/** Alternatives offered as runners-up: common tokens, so `top_logprobs` reads like a model's. */
const RUNNERS_UP = [' the', ' a', ' and', ' to', ' of', ' is', ' in', ' it', ' that', ' for', ',', '.', ' this', ' with', ' as', ' on', ' be', ' at', ' by', ' we', ' an', ' or', ' are', ' from'];

const bytes = (s: string) => [...Buffer.from(s, 'utf8')];
const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Well-formed log probabilities for each piece of an answer: the chosen piece is the most likely
 * (logprob ≤ 0) and `top` runners-up follow in decreasing order, none equal to the piece.
 * @example logprobsFor(['Hi', ' there'], 2, () => 0.5)[0].top_logprobs.length // 2
 */
export function logprobsFor(pieces: readonly string[], top: number, rng: () => number): SimLogprob[] {
  return pieces.map((token) => {
    const logprob = round(-rng() * 0.8);
    const alts: SimLogprob['top_logprobs'] = top > 0 ? [{ token, logprob, bytes: bytes(token) }] : [];
    let lp = logprob;
    for (let k = Math.floor(rng() * RUNNERS_UP.length); alts.length < top; k++) {
      const alt = RUNNERS_UP[k % RUNNERS_UP.length]!;
      if (alt === token || alts.some((a) => a.token === alt)) continue;
      lp = round(lp - 0.5 - rng() * 3);
      alts.push({ token: alt, logprob: lp, bytes: bytes(alt) });
    }
    return { token, logprob, bytes: bytes(token), top_logprobs: alts };
  });
}
