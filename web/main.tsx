import { render } from 'preact';
import { adoptToken, saveToken, useToken } from './api.js';
import { App, applyTheme } from './app.js';
import { markUnauthorized, start } from './store.js';
import './styles.css';

applyTheme();
const token = adoptToken();
const unauthorized = () => {
  saveToken(null);
  markUnauthorized();
};
useToken(token, unauthorized);
// The network first: the socket and the role are on their way while the page renders.
void start();
render(<App onLogin={(t) => {
  saveToken(t);
  useToken(t, unauthorized);
  void start();
}} />, document.getElementById('app')!);
