// Until the dashboard lands, `/` is a small page that lists the agents and the API. It holds
// no data itself: the script reads the token from the URL fragment (never sent to the server)
// or gets one by logging in (POST /api/login), and asks the API, like any client.
export const HOME_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Iron Cage</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd}
code{background:#f3f4f6;padding:0 .25rem;border-radius:3px}.s-running{color:#1a7f37}.s-crashed{color:#cf222e}.s-stopped{color:#9a6700}
#err{color:#cf222e}#login{display:none;margin:1rem 0}#login input{margin-right:.5rem}
</style></head><body>
<h1>Iron Cage</h1>
<form id="login"><input id="name" name="name" placeholder="Name" autocomplete="username" required>
<input id="password" name="password" type="password" placeholder="Password" autocomplete="current-password" required>
<button type="submit">Log in</button></form>
<p id="err"></p>
<table><thead><tr><th>Agent</th><th>Name</th><th>Status</th><th>Progress</th><th>Restarts</th><th>Started</th></tr></thead>
<tbody id="agents"><tr><td colspan="6">Loading…</td></tr></tbody></table>
<h2>API</h2>
<ul>
<li><code>GET /api/health</code> (no token)</li>
<li><code>POST /api/login</code> <code>{name, password}</code> (no token) → a short-lived token</li>
<li><code>GET /api/agents</code>, <code>GET /api/agents/:id/status</code>, <code>GET /api/agents/:id/metrics</code></li>
<li><code>POST /api/agents/:id/stop</code></li>
<li><code>GET /api/events?after=SEQ&amp;limit=N</code></li>
<li><code>POST /api/agents/:id/progress</code>, <code>/events</code>, <code>/checkpoints</code>; <code>GET /api/agents/:id/checkpoint</code></li>
<li>WebSocket <code>/ws?token=…&amp;after=SEQ</code></li>
</ul>
<script>
let token = new URLSearchParams(location.hash.slice(1)).get('token') || sessionStorage.getItem('ironCageToken');
if (token) sessionStorage.setItem('ironCageToken', token);
const err = (m) => { document.getElementById('err').textContent = m; };
const form = document.getElementById('login');
function askLogin(m) {
  token = null; sessionStorage.removeItem('ironCageToken');
  form.style.display = 'block'; err(m || '');
}
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: document.getElementById('name').value, password: document.getElementById('password').value }) });
  const body = await r.json().catch(() => ({}));
  document.getElementById('password').value = '';
  if (!r.ok) return err(body.error ? body.error.message : 'login failed (' + r.status + ')');
  token = body.token; sessionStorage.setItem('ironCageToken', token);
  form.style.display = 'none'; err(''); refresh();
});
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
async function refresh() {
  if (!token) return;
  const r = await fetch('/api/agents', { headers: { authorization: 'Bearer ' + token } });
  if (r.status === 401) return askLogin((await r.json()).error.message);
  if (!r.ok) { err((await r.json()).error.message); return; }
  const agents = await r.json();
  document.getElementById('agents').innerHTML = agents.length === 0 ? '<tr><td colspan="6">No agents yet.</td></tr>' :
    agents.map((a) => '<tr><td><code>' + esc(a.id) + '</code></td><td>' + esc(a.name) + '</td><td class="s-' + esc(a.status) + '">' + esc(a.status) +
      '</td><td>' + a.progress.done + (a.progress.total ? ' / ' + a.progress.total : '') + ' ' + esc(a.progress.unit) + '</td><td>' + a.restarts +
      '</td><td>' + esc(a.startedAt ? new Date(a.startedAt).toLocaleTimeString() : '') + '</td></tr>').join('');
}
if (!token) askLogin('Log in, or open the URL iron-cage printed at start (it carries a token).');
refresh(); setInterval(refresh, 1000);
</script></body></html>`;
