// hookgate's console: one page over the JSON admin API, no framework, no build step.
//
// Every piece of data reaches the page through textContent or an attribute
// set on an element built here: never innerHTML. A route name, a header, a
// body or a downstream's answer holding markup shows as text and runs nothing.
'use strict';

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const OVERVIEW_POLL_MS = 5000;
const EVENTS_POLL_MS = 2000;
// The runbook: a route failing for longer than its alert_after (default 5
// minutes) is escalated to the downstream's owner.
const ESCALATE_SECS = 300;
const SVG = 'http://www.w3.org/2000/svg';

let timer = null;
let view = 0; // bumped on each navigation, so a stale answer draws nothing
// The outcome of the last action, kept across redraws of the page it was taken on.
let flash = null;

// ---- DOM helpers ----------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === 'class') node.className = value;
    else if (name === 'on') Object.entries(value).forEach(([e, f]) => node.addEventListener(e, f));
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes);
}

function notice(text, error) {
  return el('p', { class: error ? 'notice error' : 'notice', role: 'status' }, text);
}

// What the current page was last drawn from: a poll that brings the same
// data draws nothing, so a button is not replaced under the pointer.
let drawn = null;

function unchanged(...data) {
  const key = JSON.stringify([data, flash]);
  if (key === drawn) return true;
  drawn = key;
  return false;
}

function said(text, error) {
  flash = { hash: window.location.hash, text, error };
}

function flashed() {
  return flash && flash.hash === window.location.hash ? notice(flash.text, flash.error) : null;
}

// ---- the admin API ----------------------------------------------------------

class ApiError extends Error {}

async function api(method, path) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = CSRF;
  const response = await fetch(path, { method, headers, credentials: 'same-origin' });
  if (response.status === 401) {
    // The session ended (idle, logout elsewhere, token changed).
    window.location.assign('/console/login');
    throw new ApiError('logged out');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(body.error || `HTTP ${response.status}`);
  return body;
}

const enc = encodeURIComponent;

// ---- formatting -------------------------------------------------------------

function duration(secs) {
  secs = Math.round(secs);
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ${secs % 60}s`;
  return `${Math.floor(secs / 3600)}h ${Math.floor((secs % 3600) / 60)}m`;
}

function ms(value) {
  return value === undefined || value === null ? '–' : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

function percent(part, whole) {
  return whole ? `${((100 * part) / whole).toFixed(1)}%` : '–';
}

function when(rfc3339) {
  const at = new Date(rfc3339);
  return Number.isNaN(at.getTime()) ? rfc3339 : at.toLocaleString();
}

// ---- sparkline --------------------------------------------------------------

// Requests per minute (and 5xx per minute in red) over the buckets, as SVG
// built element by element.
function sparkline(buckets, stepSecs) {
  const width = 180, height = 32;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const perMinute = 60 / stepSecs;
  // An hour wide from the start: a young gateway's line starts at the right.
  const hour = Math.round(3600 / stepSecs) + 1;
  const padded = Array(Math.max(0, hour - buckets.length)).fill({ requests: 0, server_errors: 0 }).concat(buckets);
  const total = padded.map((b) => b.requests * perMinute);
  const errors = padded.map((b) => b.server_errors * perMinute);
  const top = Math.max(1, ...total);
  const line = (values, cls) => {
    const poly = document.createElementNS(SVG, 'polyline');
    const step = width / Math.max(1, values.length - 1);
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
    poly.setAttribute('points', points.join(' '));
    if (cls) poly.setAttribute('class', cls);
    svg.append(poly);
  };
  line(total);
  if (errors.some((v) => v > 0)) line(errors, 'errors');
  const title = document.createElementNS(SVG, 'title');
  title.textContent = `peak ${Math.round(top)} requests/min over the last hour`;
  svg.append(title);
  return svg;
}

// ---- overview -----------------------------------------------------------------

async function overview(current) {
  const [status, history] = await Promise.all([api('GET', '/admin/status'), api('GET', '/admin/history')]);
  const queues = await Promise.all(status.routes.map((r) =>
    api('GET', `/admin/routes/${enc(r.name)}/queue`).catch(() => null)));
  if (current !== view || unchanged(status, history, queues)) return;
  const byRoute = new Map(history.routes.map((h) => [h.route, h]));
  const rows = status.routes.map((route, i) => overviewRow(route, byRoute.get(route.name), queues[i], history.step_secs));
  const head = el('tr', {}, ['Route', 'Enabled', 'Delivery', 'Scheme', 'Downstream', 'Requests/min (1 h)',
    'Errors (1 h)', 'p50 / p99', 'Failure streak', 'Queue', 'Oldest', 'Dead letters'].map((h) => el('th', {}, h)));
  show(
    el('h1', {}, 'Overview'),
    el('p', { class: 'muted' }, `Config generation ${status.config_generation}, hash ${status.config_hash}. Refreshes every 5 s.`),
    el('table', { id: 'overview' }, el('thead', {}, head), el('tbody', {}, rows)),
  );
}

function overviewRow(route, history, queue, stepSecs) {
  const buckets = history ? history.buckets : [];
  const last = buckets.slice(-7, -1); // the last full minute
  const perMinute = last.reduce((n, b) => n + b.requests, 0) * (60 / (stepSecs * Math.max(1, last.length)));
  const streak = route.streak || {};
  const failing = streak.consecutive_failures > 0;
  const escalate = failing && route.failing_for_secs >= (route.alert_after_secs ?? ESCALATE_SECS);
  const streakCell = failing
    ? el('td', { class: escalate ? 'bad' : 'warn' },
      `${streak.consecutive_failures} failures for ${duration(route.failing_for_secs)}`,
      escalate ? ' — escalate to the downstream\'s owner' : '',
      streak.last_error ? el('div', { class: 'muted' }, streak.last_error) : null)
    : el('td', { class: 'good' }, 'none');
  const dead = queue ? queue.dead_letters : 0;
  return el('tr', { class: escalate ? 'escalate' : failing ? 'failing' : '', 'data-route': route.name },
    el('td', {}, el('a', { href: `#/events?route=${enc(route.name)}` }, route.name), el('div', { class: 'muted mono' }, route.path)),
    el('td', {}, route.enabled ? 'yes' : el('span', { class: 'warn' }, 'disabled')),
    el('td', {}, route.delivery),
    el('td', {}, route.scheme),
    el('td', { class: 'mono' }, route.downstream_host || ''),
    el('td', {}, sparkline(buckets, stepSecs), el('span', { class: 'muted' }, `${perMinute.toFixed(1)}/min in the last full minute`)),
    errorCell(route, history),
    el('td', { class: 'num' }, history ? `${ms(history.p50_ms)} / ${ms(history.p99_ms)}` : '–'),
    streakCell,
    el('td', { class: 'num' }, queue ? queue.depth : '–'),
    el('td', { class: 'num' }, queue && queue.depth ? duration(queue.oldest_age_secs) : '–'),
    el('td', { class: 'num' }, dead ? el('a', { href: `#/dead/${enc(route.name)}`, class: 'bad' }, String(dead)) : '0'),
  );
}

// The hour's answers that were 5xx; and, where there were any, the delivery
// attempts that failed: a queued route answers 202 whatever its downstream
// does, so its errors are there (its rate is theirs).
function errorCell(route, history) {
  if (!history) return el('td', { class: 'num errors' }, '–');
  const attempts = history.attempts_delivered + history.attempts_failed;
  const failed = history.attempts_failed;
  const [part, whole] = route.delivery === 'queued' ? [failed, attempts] : [history.server_errors, history.requests];
  return el('td', { class: 'num errors' }, percent(part, whole),
    el('div', { class: 'muted' }, `${history.server_errors} of ${history.requests} answers 5xx`),
    attempts ? el('div', { class: failed ? 'bad deliveries' : 'muted deliveries' }, `${failed} of ${attempts} deliveries failed`) : null);
}

// ---- events -------------------------------------------------------------------

const FILTERS = ['route', 'status', 'outcome', 'delivery_id', 'q'];

function eventFilters(params) {
  const input = (name, placeholder) => el('input', { name, placeholder, value: params.get(name) || '' });
  const status = el('select', { name: 'status' }, ['', '2xx', '4xx', '5xx'].map((s) =>
    el('option', s === (params.get('status') || '') ? { value: s, selected: '' } : { value: s }, s || 'any status')));
  const form = el('form', { class: 'filters', id: 'filters' },
    input('route', 'route'), status, input('outcome', 'outcome'),
    input('delivery_id', 'delivery id'), input('q', 'text in body'),
    el('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = new URLSearchParams();
    for (const name of FILTERS) if (form.elements[name].value) chosen.set(name, form.elements[name].value);
    window.location.hash = `#/events?${chosen}`;
  });
  return form;
}

async function events(current, params) {
  const query = new URLSearchParams();
  for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
  const filters = new URLSearchParams(query);
  if (params.get('before')) query.set('before', params.get('before'));
  const page = await api('GET', `/admin/events?${query}`);
  if (current !== view || unchanged(page)) return;
  const head = el('tr', {}, ['Received', 'Route', 'Status', 'Outcome', 'Delivered', 'Delivery id', 'Reason', 'Size', 'Time']
    .map((h) => el('th', {}, h)));
  const rows = page.events.map((e) => el('tr', { 'data-id': e.id },
    el('td', {}, el('a', { href: `#/events/${enc(e.id)}` }, when(e.received_at))),
    el('td', {}, e.route),
    el('td', { class: e.status >= 500 ? 'bad' : e.status >= 400 ? 'warn' : 'good' }, String(e.status)),
    el('td', {}, e.outcome),
    // Set once every destination called took it, at once, on a retry or on a replay.
    el('td', e.delivered_at ? { class: 'good', title: e.delivered_at } : { class: 'muted' },
      e.delivered_at ? when(e.delivered_at) : '—'),
    el('td', { class: 'mono' }, e.delivery_id || ''),
    el('td', {}, e.reason || ''),
    el('td', { class: 'num' }, `${e.body_size} B`),
    el('td', { class: 'num' }, `${e.duration_ms} ms`)));
  const table = document.getElementById('events');
  const none = page.next ? 'No event matches among the records looked at; see older ones.' : 'No event matches.';
  const body = el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: '9', class: 'muted' }, none)));
  // A page may end before the log does (on Redis, one looks at a bounded number of records).
  if (page.next) filters.set('before', page.next);
  const older = el('p', { id: 'paging' }, page.next ? el('a', { href: `#/events?${filters}`, id: 'older' }, 'Older events') : null);
  if (table) {
    table.replaceChildren(el('thead', {}, head), body);
    document.getElementById('paging').replaceWith(older);
  } else {
    const live = params.get('before') ? 'Older events, newest first.' : 'Newest first; follows new events every 2 s.';
    show(el('h1', {}, 'Events'), eventFilters(params),
      el('p', { class: 'muted' }, live),
      el('table', { id: 'events' }, el('thead', {}, head), body), older);
  }
}

// ---- one event ------------------------------------------------------------------

function prettyBody(detail) {
  if (detail.body === undefined) return el('p', { class: 'muted' }, 'The route keeps no bodies.');
  let text = detail.body;
  if (detail.body_encoding === 'utf-8') {
    try { text = JSON.stringify(JSON.parse(detail.body), null, 2); } catch (_) { /* not JSON: as received */ }
  }
  return el('pre', { id: 'event-body' }, text);
}

function timeline(attempts) {
  if (!attempts.length) return el('p', { class: 'muted' }, 'No downstream call.');
  return el('ol', { class: 'timeline', id: 'attempts' }, attempts.map((a) => {
    const delivered = a.status >= 200 && a.status < 300;
    return el('li', { class: delivered ? 'delivered' : 'failed' },
      el('strong', { class: delivered ? 'good' : 'bad' }, delivered ? 'delivered' : 'failed'),
      ` ${a.destination ? `→ ${a.destination} · ` : ''}${when(a.at)} · ${a.status === undefined ? 'no answer' : `status ${a.status}`} · ${a.duration_ms} ms`,
      a.answer ? el('pre', {}, a.answer) : null);
  }));
}

async function eventPage(current, id) {
  const detail = await api('GET', `/admin/events/${enc(id)}`);
  if (current !== view || unchanged(detail)) return;
  const replay = el('button', { class: 'primary', id: 'replay' }, 'Replay');
  const outcome = el('div', { id: 'replay-outcome' }, flashed());
  replay.disabled = !detail.replayable;
  replay.addEventListener('click', async () => {
    replay.disabled = true;
    try {
      await api('POST', `/admin/events/${enc(id)}/replay`);
      said('Replayed: queued for delivery to the route\'s current downstream.');
    } catch (error) {
      said(`Replay refused: ${error.message}`, true);
    }
    refresh();
  });
  const facts = [['Event id', detail.id], ['Received', when(detail.received_at)], ['Route', detail.route],
    ['Status', String(detail.status)], ['Outcome', detail.outcome],
    ['Delivered', detail.delivered_at && when(detail.delivered_at)], ['Reason', detail.reason],
    ['Delivery id', detail.delivery_id], ['Request id', detail.request_id],
    ['Body', `${detail.body_size} bytes${detail.body_encoding === 'base64' ? ' (base64)' : ''}`]];
  const headers = (detail.headers || []).map(([name, value]) => el('tr', {}, el('td', { class: 'mono' }, name), el('td', { class: 'mono' }, value)));
  show(
    el('h1', {}, 'Event ', el('span', { class: 'mono' }, detail.id)),
    el('p', {}, replay, ' ', detail.replayable ? '' : el('span', { class: 'muted' }, 'No kept, verified body: cannot be replayed.')),
    outcome,
    el('dl', { class: 'facts', id: 'facts' }, facts.filter(([, v]) => v !== undefined && v !== null)
      .flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    el('h2', {}, 'Attempts'), timeline(detail.attempts),
    el('h2', {}, 'Headers'),
    headers.length ? el('table', { id: 'event-headers' }, el('tbody', {}, headers)) : el('p', { class: 'muted' }, 'Not kept.'),
    el('h2', {}, 'Body'), prettyBody(detail),
  );
}

// ---- dead letters -----------------------------------------------------------------

// A destructive button asks once more, on the page (a dialog would block the tab).
// The page is redrawn while the operator decides (a queue's ages change every
// poll), so which button waits for its second click is kept here, by key,
// not in the button: a redrawn one comes back armed.
const CONFIRM_MS = 10000;
let armed = { key: null, at: 0 };

function confirmButton(label, key, action) {
  const isArmed = () => armed.key === key && Date.now() - armed.at < CONFIRM_MS;
  const button = el('button', { class: 'danger' }, isArmed() ? `${label}: click again` : label);
  button.addEventListener('click', async () => {
    if (!isArmed()) {
      armed = { key, at: Date.now() };
      button.textContent = `${label}: click again`;
      return;
    }
    armed = { key: null, at: 0 };
    button.disabled = true;
    await action();
  });
  return button;
}

async function deadLetters(current, route) {
  const queue = await api('GET', `/admin/routes/${enc(route)}/queue`);
  if (current !== view || unchanged(queue)) return;
  const base = `/admin/routes/${enc(route)}`;
  const outcome = el('div', { id: 'dead-outcome' }, flashed());
  const act = (method, path, done) => async () => {
    try {
      said(done(await api(method, path)));
    } catch (error) {
      said(error.message, true);
    }
    refresh();
  };
  const rows = queue.dead.map((d) => {
    const one = `id=${enc(d.id)}&destination=${enc(d.destination)}`;
    return el('tr', { 'data-id': d.id },
      el('td', { class: 'mono' }, el('a', { href: `#/events/${enc(d.id)}` }, d.id)),
      el('td', {}, d.destination), el('td', {}, when(d.received_at)),
      el('td', { class: 'num' }, String(d.attempts)), el('td', {}, d.last_error || ''),
      el('td', {},
        el('button', { on: { click: act('POST', `${base}/replay?${one}`, (a) => `Replayed ${a.replayed}.`) } }, 'Replay'),
        ' ', confirmButton('Purge', `${route} ${one}`, act('DELETE', `${base}/dead-letters?${one}`, (a) => `Purged ${a.purged}.`))));
  });
  show(
    el('h1', {}, 'Dead letters of ', route),
    el('p', {}, `${queue.dead_letters} dead letters, ${queue.depth} waiting${queue.paused ? ', delivery paused' : ''}. `,
      el('button', { on: { click: act('POST', `${base}/replay`, (a) => `Replayed ${a.replayed}.`) } }, 'Replay all'), ' ',
      confirmButton('Purge all', route, act('DELETE', `${base}/dead-letters`, (a) => `Purged ${a.purged}.`))),
    outcome,
    el('table', { id: 'dead' }, el('thead', {}, el('tr', {}, ['Event id', 'Destination', 'Received', 'Attempts', 'Last error', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No dead letter.')))),
  );
}

// ---- navigation ------------------------------------------------------------------

function route() {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'events' && parts[1]) return { draw: (v) => eventPage(v, parts[1]), every: EVENTS_POLL_MS, nav: 'events' };
  if (parts[0] === 'events') return { draw: (v) => events(v, params), every: EVENTS_POLL_MS, nav: 'events' };
  if (parts[0] === 'dead' && parts[1]) return { draw: (v) => deadLetters(v, parts[1]), every: OVERVIEW_POLL_MS, nav: 'overview' };
  return { draw: overview, every: OVERVIEW_POLL_MS, nav: 'overview' };
}

async function refresh() {
  const current = view;
  const { draw } = route();
  try {
    await draw(current);
  } catch (error) {
    if (!(error instanceof ApiError) || error.message !== 'logged out') {
      if (current === view) show(notice(`Could not load: ${error.message}`, true));
    }
  }
}

// Polls the current page; an action or a new page starts the cycle again.
function navigate() {
  view += 1;
  drawn = null;
  clearTimeout(timer);
  const { every, nav } = route();
  for (const link of document.querySelectorAll('header nav a')) link.classList.toggle('active', link.id === `nav-${nav}`);
  const current = view;
  const tick = async () => {
    await refresh();
    if (current === view) timer = setTimeout(tick, every);
  };
  document.getElementById('main').replaceChildren(el('p', {}, 'Loading…'));
  tick();
}

window.addEventListener('hashchange', navigate);
navigate();
