import { render } from 'preact';
import { adoptToken, storedToken, useToken } from './api.js';
import { App, applyTheme } from './app.js';
import { markUnauthorized, start, useNewToken } from './feed.js';
import './styles.css';

applyTheme();
useToken(adoptToken(), markUnauthorized);
// The network first: the socket and the role are on their way while the page renders.
void start();
// A new dashboard URL pasted into this tab changes only the fragment: no reload, so adopt it here.
addEventListener('hashchange', () => {
  const before = storedToken();
  const token = adoptToken();
  if (token && token !== before) useNewToken(token);
});
render(<App onLogin={useNewToken} />, document.getElementById('app')!);
