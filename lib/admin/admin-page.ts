/**
 * The admin page (DESIGN §6): plain HTML, CSS and a small script, no
 * framework and no build step. `admin-router.ts` serves them at `/`,
 * `/admin.css` and `/admin.js` under its mount point; the script polls the
 * JSON API next to the page every 3 s.
 *
 * Everything the server sends reaches the page through `textContent` and
 * `setAttribute`, never as markup: principals and attribute names are user
 * data. The strings below are template literals: they must not contain
 * backticks, `${` or backslashes (a backslash escape would be consumed here,
 * not by the browser); test/admin-page.test.ts checks the script compiles.
 */

/**
 * The page. Its assets and the API are relative to it, so it has to be
 * loaded with a trailing slash (`/admin/`): from `/admin`, `admin.js` would
 * resolve to `/admin.js`. The router redirects `/admin` to `/admin/`; no
 * inline script, so a strict Content-Security-Policy allows the page.
 */
export const ADMIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sessions</title>
<link rel="stylesheet" href="admin.css">
<script src="admin.js" defer></script>
</head>
<body>
<header>
  <h1>Sessions</h1>
  <p id="updated" class="muted"></p>
</header>
<p id="message" class="info" role="status" aria-live="polite" data-testid="message">Loading… If this stays, admin.js did not load: open this page's address with a slash at the end.</p>

<div class="panels">
  <section class="panel" aria-labelledby="totals-title">
    <h2 id="totals-title">Totals</h2>
    <dl>
      <div><dt>Live</dt><dd id="stat-live">–</dd></div>
      <div><dt>Created</dt><dd id="stat-created">–</dd></div>
      <div><dt>Invalidated</dt><dd id="stat-invalidated">–</dd></div>
      <div><dt>Expired</dt><dd id="stat-expired">–</dd></div>
      <div><dt>Killed</dt><dd id="stat-killed">–</dd></div>
    </dl>
  </section>
  <section class="panel" aria-labelledby="reaper-title">
    <h2 id="reaper-title">Reaper</h2>
    <div class="panel-row">
      <dl>
        <div><dt>Active</dt><dd id="reaper-active">–</dd></div>
        <div><dt>Interval</dt><dd id="reaper-interval">–</dd></div>
        <div><dt>Last sweep</dt><dd id="reaper-last">–</dd></div>
        <div><dt>Sweeps</dt><dd id="reaper-runs">–</dd></div>
        <div><dt>Expired so far</dt><dd id="reaper-expired">–</dd></div>
      </dl>
      <button type="button" id="reap" data-action="reap">Reap now</button>
    </div>
  </section>
</div>

<form id="filters" role="search" aria-label="Filter sessions">
  <label for="filter-app">App</label>
  <input id="filter-app" name="app" autocomplete="off" placeholder="all apps">
  <label for="filter-principal">User</label>
  <input id="filter-principal" name="principal" autocomplete="off" placeholder="all users">
  <label for="filter-limit">Per page</label>
  <input id="filter-limit" name="limit" type="number" min="1" max="1000" placeholder="50">
  <button type="submit">Filter</button>
  <button type="button" id="clear-filters">Clear</button>
  <button type="button" id="kill-filtered-user" class="danger" data-action="kill-principal" hidden></button>
</form>

<div class="table-wrap">
<table id="sessions">
  <caption id="showing">Live sessions</caption>
  <thead>
    <tr>
      <th scope="col">Session</th>
      <th scope="col">App</th>
      <th scope="col">User</th>
      <th scope="col">Created</th>
      <th scope="col">Last access</th>
      <th scope="col">Expires</th>
      <th scope="col" class="num" title="Requests using the session now">Active</th>
      <th scope="col" class="num">Size</th>
      <th scope="col">Attributes</th>
      <th scope="col"><span class="visually-hidden">Actions</span></th>
    </tr>
  </thead>
  <tbody></tbody>
</table>
</div>
<p id="empty" class="muted" hidden>No sessions.</p>

<nav id="paging" aria-label="Pages">
  <button type="button" id="first-page">First page</button>
  <button type="button" id="previous-page">Previous page</button>
  <button type="button" id="next-page">Next page</button>
</nav>
<p class="muted note">Refreshes every 3 s. The counters are this process's since it started; "Live" also counts expired sessions the reaper has not swept yet.</p>
</body>
</html>
`;

export const ADMIN_STYLES = `:root {
  --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --panel: #f8f9fb;
  --accent: #2557d6; --danger: #b42318; --danger-bg: #fef3f2;
}
* { box-sizing: border-box; }
body {
  margin: 0 auto; max-width: 84rem; padding: 1.25rem 1.5rem 2rem;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
}
header { display: flex; align-items: baseline; justify-content: space-between; gap: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .75rem; }
h2 { font-size: .75rem; font-weight: 600; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 .4rem; }
.muted { color: var(--muted); }
.note { font-size: .85rem; margin-top: 1.25rem; }
#message { margin: 0 0 1rem; padding: .5rem .75rem; border-radius: 6px; border: 1px solid #c7d7fe; background: #eef4ff; }
#message.error { border-color: #fecdca; background: var(--danger-bg); color: var(--danger); }
#message:empty { display: none; }
.panels { display: flex; flex-wrap: wrap; gap: 1rem; margin-bottom: 1.25rem; }
.panel { padding: .75rem 1rem; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); }
.panel-row { display: flex; flex-wrap: wrap; align-items: flex-end; gap: .75rem 1.75rem; }
dl { display: flex; flex-wrap: wrap; gap: .5rem 1.75rem; margin: 0; }
dl div { display: flex; flex-direction: column; }
dt { font-size: .8rem; color: var(--muted); }
dd { margin: 0; font-size: 1.15rem; font-weight: 600; font-variant-numeric: tabular-nums; }
form { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; margin: 0 0 .5rem; }
form label { color: var(--muted); }
input { font: inherit; padding: .3rem .5rem; border: 1px solid #cfd4dc; border-radius: 6px; width: 11rem; }
input[type=number] { width: 5.5rem; }
button { font: inherit; padding: .3rem .75rem; border: 1px solid #cfd4dc; border-radius: 6px; background: #fff; color: var(--fg); cursor: pointer; }
button:hover { background: #f2f4f7; }
button:disabled { opacity: .45; cursor: default; }
button[type=submit] { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--danger); border-color: #f4b8b1; }
button.danger:hover { background: var(--danger-bg); }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; }
caption { text-align: left; padding: .25rem 0 .5rem; color: var(--muted); }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: middle; }
thead th { font-size: .8rem; font-weight: 600; color: var(--muted); background: var(--panel); border-top: 1px solid var(--line); }
tbody tr:hover { background: #fafbfc; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.attributes { white-space: normal; min-width: 10rem; max-width: 18rem; overflow-wrap: anywhere; color: var(--muted); }
td.actions { text-align: right; }
td.actions button { padding: .15rem .55rem; }
td.actions button + button { margin-left: .35rem; }
.anonymous { color: var(--muted); font-style: italic; }
.badge { display: inline-block; margin-left: .4rem; padding: 0 .45rem; border-radius: 999px; font-size: .75rem; border: 1px solid #f5d49a; background: #fff6e5; color: #8a5300; }
tr.marked td { background: #fffbf2; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
#paging { display: flex; gap: .5rem; margin-top: .75rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;

export const ADMIN_SCRIPT = `'use strict';
(function () {
  var REFRESH_MS = 3000;

  // The API lives next to the page: resolve against the page's path with a
  // trailing slash, whatever address the page was opened at.
  var path = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
  var base = new URL(path, location.origin);

  var byId = function (id) { return document.getElementById(id); };
  var tbody = document.querySelector('#sessions tbody');
  var filters = { app: '', principal: '', limit: '' };
  // Cursors of the pages up to the one shown (the first page has none).
  var pages = [''];
  var nextCursor = '';
  var generation = 0;
  // The sessions shown, as JSON: an unchanged list is not rebuilt.
  var shown = '';
  var timer = 0;

  /** Calls the JSON API; rejects with the server's message on an error status. */
  async function call(method, route, params) {
    var url = new URL(route, base);
    Object.keys(params || {}).forEach(function (name) {
      if (params[name]) url.searchParams.set(name, params[name]);
    });
    var headers = { Accept: 'application/json' };
    // Required on state-changing routes: a cross-site form or image cannot send it.
    if (method !== 'GET') headers['X-Requested-With'] = 'fetch';
    var res;
    try {
      res = await fetch(url, { method: method, headers: headers, cache: 'no-store', credentials: 'same-origin' });
    } catch (error) {
      throw new Error('Cannot reach the server (' + error.message + ')');
    }
    var body = await res.json().catch(function () { return null; });
    if (res.ok) return body;
    var failure = new Error('HTTP ' + res.status + ': ' + (body && body.error ? body.error : res.statusText || 'request failed'));
    failure.status = res.status;
    throw failure;
  }

  /** Shows a message; one from a refresh is cleared by the next good refresh. */
  function say(text, kind, source) {
    var box = byId('message');
    box.textContent = text;
    box.className = kind;
    box.dataset.source = source || 'action';
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function shortId(id) { return id.length > 10 ? id.slice(0, 8) + '…' : id; }

  function clockTime(ms) {
    var date = new Date(ms);
    return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
  }

  /** "in 4 min", "never"; from the browser's clock, so a skewed client is off by its skew. */
  function expiresIn(ms) {
    if (ms === null) return 'never';
    var s = Math.round((ms - Date.now()) / 1000);
    if (s <= 0) return 'overdue (awaiting the reaper)';
    if (s < 60) return 'in ' + s + ' s';
    if (s < 3600) return 'in ' + Math.round(s / 60) + ' min';
    if (s < 86400) return 'in ' + Math.round(s / 3600) + ' h';
    return 'in ' + Math.round(s / 86400) + ' d';
  }

  /** Durations are fractional milliseconds. */
  function millis(ms) { return ms < 1 ? 'under 1 ms' : Math.round(ms) + ' ms'; }

  function bytes(n) { return n < 1024 ? n + ' B' : (n / 1024).toFixed(1) + ' KiB'; }

  function timeCell(tr, ms, text) {
    var td = tr.appendChild(el('td', text));
    if (ms !== null) td.title = new Date(ms).toISOString();
    return td;
  }

  function button(action, text, label, className) {
    var node = el('button', text, className);
    node.type = 'button';
    node.dataset.action = action;
    node.setAttribute('aria-label', label);
    return node;
  }

  function row(s) {
    var tr = el('tr', undefined, s.markedForDeletion ? 'marked' : '');
    tr.dataset.id = s.id;
    tr.dataset.app = s.app;
    var session = tr.appendChild(el('td'));
    session.appendChild(el('code', shortId(s.id)));
    if (s.markedForDeletion) {
      var badge = session.appendChild(el('span', 'marked', 'badge'));
      badge.title = 'Killed while in use: deleted when its running request ends';
      badge.dataset.testid = 'marked';
    }
    tr.appendChild(el('td', s.app));
    tr.appendChild(s.principal === null ? el('td', 'anonymous', 'anonymous') : el('td', s.principal));
    timeCell(tr, s.creationTime, clockTime(s.creationTime));
    timeCell(tr, s.lastAccessedTime, clockTime(s.lastAccessedTime));
    timeCell(tr, s.expiresAt, expiresIn(s.expiresAt)).dataset.testid = 'expires';
    tr.appendChild(el('td', s.activeRequests, 'num'));
    tr.appendChild(el('td', bytes(s.size), 'num'));
    var names = s.attributeNames.join(', ');
    if (s.subsessions.length > 0) names += (names ? '; ' : '') + 'subsessions: ' + s.subsessions.join(', ');
    tr.appendChild(el('td', names || '–', 'attributes'));
    var actions = tr.appendChild(el('td', undefined, 'actions'));
    actions.appendChild(button('kill', 'Kill', 'Kill session ' + shortId(s.id) + ' of app ' + s.app, 'danger'));
    if (s.principal !== null) {
      var all = button('kill-principal', 'Kill all of this user', 'Kill all sessions of user ' + s.principal, 'danger');
      all.dataset.principal = s.principal;
      actions.appendChild(all);
    }
    return tr;
  }

  /**
   * Shows the sessions. An unchanged list only has its relative times
   * updated: rebuilding every 3 s would swallow a click or a text selection.
   * A changed one is rebuilt, keeping keyboard focus on the same button when
   * its row is still there.
   */
  function renderSessions(list) {
    var json = JSON.stringify(list.sessions);
    if (json === shown) {
      list.sessions.forEach(function (s, i) {
        tbody.rows[i].querySelector('[data-testid=expires]').textContent = expiresIn(s.expiresAt);
      });
    } else {
      shown = json;
      var focused = tbody.contains(document.activeElement) ? document.activeElement : null;
      var keep = focused && focused.closest('tr');
      tbody.replaceChildren.apply(tbody, list.sessions.map(row));
      if (keep) {
        var again = Array.prototype.find.call(tbody.rows, function (tr) {
          return tr.dataset.id === keep.dataset.id && tr.dataset.app === keep.dataset.app;
        });
        var target = again && again.querySelector('[data-action="' + focused.dataset.action + '"]');
        if (target) target.focus();
      }
    }
    nextCursor = list.cursor || '';
    byId('empty').hidden = list.sessions.length > 0;
    byId('next-page').disabled = !nextCursor;
    byId('previous-page').disabled = pages.length < 2;
    byId('first-page').disabled = pages.length < 2;
    var what = 'Live sessions';
    if (filters.principal) what += ' of user “' + filters.principal + '”';
    what += filters.app ? ' in app “' + filters.app + '”' : ' in every app';
    byId('showing').textContent = what + ' · page ' + pages.length + ' · ' + list.sessions.length + ' shown' + (nextCursor ? ', more on the next page' : '');
  }

  function setText(id, value) { byId(id).textContent = String(value); }

  function renderStats(stats) {
    setText('stat-live', stats.live);
    setText('stat-created', stats.sessions.created);
    setText('stat-invalidated', stats.sessions.invalidated);
    setText('stat-expired', stats.sessions.expired);
    setText('stat-killed', stats.sessions.killed);
    var reaper = stats.reaper;
    setText('reaper-active', reaper.active ? 'yes' : 'no' + (reaper.reason ? ' (' + reaper.reason + ')' : ''));
    setText('reaper-interval', 'every ' + reaper.interval + ' s');
    setText('reaper-last', reaper.lastRunAt === null ? 'not yet' : clockTime(reaper.lastRunAt) + ' (' + millis(reaper.lastDurationMs) + ')');
    setText('reaper-runs', reaper.runs);
    setText('reaper-expired', reaper.expired);
  }

  /** Loads the current page and the stats now, then every REFRESH_MS; a newer load wins over an older one. */
  async function refresh() {
    clearTimeout(timer);
    var mine = ++generation;
    try {
      var results = await Promise.all([
        call('GET', 'api/sessions', { app: filters.app, principal: filters.principal, limit: filters.limit, cursor: pages[pages.length - 1] }),
        call('GET', 'api/stats'),
      ]);
      if (mine !== generation) return;
      renderSessions(results[0]);
      renderStats(results[1]);
      setText('updated', 'Updated ' + new Date().toLocaleTimeString());
      if (byId('message').dataset.source !== 'action') say('', '', 'refresh');
    } catch (error) {
      if (mine === generation) say(error.message, 'error', 'refresh');
    } finally {
      if (mine === generation) timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  function showFilters() {
    byId('filter-app').value = filters.app;
    byId('filter-principal').value = filters.principal;
    byId('filter-limit').value = filters.limit;
    var killUser = byId('kill-filtered-user');
    killUser.hidden = !filters.principal;
    killUser.dataset.principal = filters.principal;
    killUser.textContent = 'Kill all sessions of ' + filters.principal;
  }

  /** Takes the filters from the form, puts them in the address (so a reload keeps them) and shows page 1. */
  function applyFilters() {
    filters.app = byId('filter-app').value.trim();
    filters.principal = byId('filter-principal').value.trim();
    filters.limit = byId('filter-limit').value.trim();
    var query = new URLSearchParams();
    Object.keys(filters).forEach(function (name) { if (filters[name]) query.set(name, filters[name]); });
    history.replaceState(null, '', path + (query.toString() ? '?' + query : ''));
    pages = [''];
    showFilters();
    refresh();
  }

  async function act(control) {
    var action = control.dataset.action;
    var tr = control.closest('tr');
    control.disabled = true;
    try {
      if (action === 'kill') {
        var id = tr.dataset.id;
        var killed = await call('DELETE', 'api/sessions/' + encodeURIComponent(id), { app: tr.dataset.app }).catch(function (error) {
          if (error.status === 404) return null;
          throw error;
        });
        if (killed === null) say('Session ' + shortId(id) + ' was already gone.', 'info');
        else if (killed.deferred) say('Session ' + shortId(id) + ' is marked for deletion: it goes when its running request ends.', 'info');
        else say('Killed session ' + shortId(id) + ' (' + tr.dataset.app + ').', 'info');
      } else if (action === 'kill-principal') {
        var user = control.dataset.principal;
        if (!confirm('Kill every session of user “' + user + '”, in every app?')) return;
        var result = await call('DELETE', 'api/sessions', { principal: user });
        say('Killed ' + result.killed + ' session' + (result.killed === 1 ? '' : 's') + ' of user “' + user + '”.', 'info');
      } else if (action === 'reap') {
        var sweep = await call('POST', 'api/reap');
        say('Reaper swept: ' + sweep.expired + ' expired, in ' + millis(sweep.durationMs) + '.', 'info');
      }
    } catch (error) {
      say(error.message, 'error');
    } finally {
      control.disabled = false;
    }
    await refresh();
  }

  document.addEventListener('click', function (event) {
    var control = event.target.closest('button[data-action]');
    if (control) act(control);
  });
  byId('filters').addEventListener('submit', function (event) {
    event.preventDefault();
    applyFilters();
  });
  byId('filters').addEventListener('change', function (event) {
    if (event.target.matches('input')) applyFilters();
  });
  byId('clear-filters').addEventListener('click', function () {
    byId('filters').reset();
    applyFilters();
  });
  byId('first-page').addEventListener('click', function () { pages = ['']; refresh(); });
  byId('previous-page').addEventListener('click', function () { if (pages.length > 1) pages.pop(); refresh(); });
  byId('next-page').addEventListener('click', function () { if (nextCursor) pages.push(nextCursor); refresh(); });

  // Filters from the address; the address normalised to the slashed path.
  var query = new URLSearchParams(location.search);
  Object.keys(filters).forEach(function (name) { filters[name] = (query.get(name) || '').trim(); });
  history.replaceState(null, '', path + location.search);
  showFilters();
  say('Loading…', 'info', 'refresh');
  refresh();
})();
`;
