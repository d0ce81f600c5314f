import { render } from 'preact';
import { adoptToken, exchangeLoginLink, storedToken, takeLoginLink, useToken } from './api.js';
import { App, applyTheme } from './app.js';
import { markUnauthorized, start, useNewToken } from './feed.js';
import './styles.css';

applyTheme();
/** A login link in the URL becomes this tab's session; one that opens nothing is explained, unless the tab has a session already. */
function openLink(link: string): void {
  exchangeLoginLink(link).then(useNewToken, (e: Error) => (storedToken() ? void start() : markUnauthorized(e.message)));
}

const link = takeLoginLink();
useToken(adoptToken(), markUnauthorized);
// The network first: the socket and the role are on their way while the page renders.
if (link !== null) openLink(link);
else void start();
// A new link pasted into this tab changes only the fragment: no reload, so take it here.
addEventListener('hashchange', () => {
  const next = takeLoginLink();
  if (next !== null) return openLink(next);
  const before = storedToken();
  const token = adoptToken();
  if (token && token !== before) useNewToken(token);
});
render(<App onLogin={useNewToken} />, document.getElementById('app')!);
