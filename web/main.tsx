import { render } from 'preact';
import { adoptToken, exchangeLoginLink, storedToken, takeLoginLink, useToken } from './api.js';
import { App, applyTheme } from './app.js';
import { markUnauthorized, start, useNewToken } from './feed.js';
import { startFleet, useNewFleetToken } from './fleet-feed.js';
import { set } from './store.js';
import './styles.css';

applyTheme();

/**
 * A control panel says `mode: 'panel'` in its health answer; a runtime says nothing of the kind.
 * Asked once, first: the two serve different feeds on /ws. Until the server answers, ask again.
 */
async function serverMode(): Promise<'runtime' | 'panel'> {
  for (let wait = 500; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      const res = await fetch('/api/health');
      const health = (await res.json().catch(() => null)) as { mode?: string; renew?: unknown } | null;
      // The command that prints a new login link, as this server was started: the page shows it where one is needed.
      if (typeof health?.renew === 'string') set({ renew: health.renew });
      if (res.ok || health) return health?.mode === 'panel' ? 'panel' : 'runtime';
    } catch {
      /* not answering yet */
    }
    set({ conn: 'reconnecting' });
    await new Promise((r) => setTimeout(r, wait));
  }
}

const link = takeLoginLink();
useToken(adoptToken(), markUnauthorized);
let mode: 'runtime' | 'panel' | null = null;
const begin = () => (mode === 'panel' ? startFleet() : start());
const onLogin = (token: string) => (mode === 'panel' ? useNewFleetToken(token) : useNewToken(token));
// The page's frame at once (the header, "Connecting…"); its content once the server has said what it is.
render(<App onLogin={onLogin} />, document.getElementById('app')!);
mode = await serverMode();
set({ mode });

/** A login link in the URL becomes this tab's session; one that opens nothing is explained, unless the tab has a session already. */
function openLink(link: string): void {
  exchangeLoginLink(link).then(onLogin, (e: Error) => (storedToken() ? void begin() : markUnauthorized(e.message)));
}

// The network first: the socket and the role are on their way while the page renders.
if (link !== null) openLink(link);
else void begin();
// A new link pasted into this tab changes only the fragment: no reload, so take it here.
addEventListener('hashchange', () => {
  const next = takeLoginLink();
  if (next !== null) return openLink(next);
  const before = storedToken();
  const token = adoptToken();
  if (token && token !== before) onLogin(token);
});
