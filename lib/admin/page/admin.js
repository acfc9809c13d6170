/*
 * The admin page's script: polls the JSON API next to the page every 3 s and
 * renders sessions, totals and the reaper. Everything the server sends
 * reaches the page through `textContent` and `setAttribute`, never as
 * markup: principals and attribute names are user data.
 */
'use strict';
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
    setText('stat-evicted', stats.sessions.evicted);
    var caps = stats.caps || {};
    setText('cap-lifetime', caps.maxLifetime === null || caps.maxLifetime === undefined ? 'none' : caps.maxLifetime + ' s');
    setText('cap-active', caps.maxActiveSessions === null || caps.maxActiveSessions === undefined ? 'none' : caps.maxActiveSessions + ' per app');
    setText(
      'cap-user',
      caps.maxSessionsPerPrincipal === null || caps.maxSessionsPerPrincipal === undefined
        ? 'none'
        : caps.maxSessionsPerPrincipal + ' (' + (caps.onMaxSessions === 'reject' ? 'reject the login' : 'evict the oldest') + ')',
    );
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
