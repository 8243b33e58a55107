// routr console: one ES module, no framework, no build step. It reads the read-only operations API
// (/api/v1/...; the session cookie set by /console/?token= authorizes reads) and listens to /api/v1/events
// (server-sent events) to redraw what changed. Everything from the server is put in the page as text nodes,
// never as HTML.

const main = document.getElementById('main');
const live = document.getElementById('live');
const SVG = 'http://www.w3.org/2000/svg';

/** An element with attributes (`on…` functions become listeners) and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path) {
  const res = await fetch(`/api/v1/${path}`, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (res.status === 401) throw new Error('Not signed in: open the address `routr console` prints.');
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.error || `HTTP ${res.status}`), { status: res.status });
  return body;
}

const time = (ms) => (ms ? new Date(ms).toLocaleTimeString(undefined, { hour12: false }) : '–');
const clock = (ms) => {
  const d = new Date(ms);
  return `${d.toLocaleTimeString(undefined, { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
};
const seconds = (ms) => (ms === null || ms === undefined ? '–' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
const dash = (v) => (v === null || v === undefined || v === '' ? '–' : String(v));

function table(caption, headers, rows, empty) {
  return el('table', {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: headers.length, class: 'empty' }, empty))));
}

function stateCell(state) {
  return el('td', { class: `state-${state || 'unknown'}` }, dash(state));
}

// ---- pages ----------------------------------------------------------------------------------------------

const state = { figures: null, log: [], expiring: [] };

const pages = {
  async overview() {
    const status = await api('status');
    const figures = el('dl', { class: 'figures', id: 'figures' });
    drawFigures(figures, state.figures);
    const edges = status.edges.map((e) => el('tr', {}, el('td', {}, e.edge), el('td', {}, e.calls), el('td', {}, e.messages), el('td', {}, `${(e.bytes / 1048576).toFixed(2)} / ${(e.maxBytes / 1048576).toFixed(0)} MiB`)));
    const processors = (status.host?.processors ?? []).map((p) => el('tr', {}, el('td', {}, p.ref), el('td', {}, p.kind), el('td', {}, `${p.plugin}@${p.version}`), stateCell(p.state), el('td', {}, p.calls), el('td', {}, p.failures)));
    const log = el('ol', { class: 'events', id: 'event-log', 'aria-label': 'Latest events' });
    if (state.log.length === 0) state.log = [...(status.recentEvents ?? [])];
    drawLog(log);
    return [
      el('h2', {}, 'Live figures'),
      figures,
      el('h2', {}, 'This node'),
      el('p', {}, `${status.server} · role ${status.role} · bus ${status.bus.kind} (${status.bus.status}) · ${status.ready ? 'ready' : `not ready: ${status.reasons.join(', ')}`} · up ${status.uptimeSeconds} s · ${status.counts.registrations} registrations · ${status.counts.callsInProgress} calls in progress`),
      table('Edges (trace rings, across the cluster)', ['Edge', 'Calls traced', 'Messages', 'Trace memory'], edges, 'No edge answered.'),
      status.host ? table(`Processors on host ${status.host.ref}`, ['Entry', 'Kind', 'Plugin', 'State', 'Calls', 'Failures'], processors, 'No processors.') : el('p', { class: 'muted' }, 'No processor host in this process.'),
      el('h2', {}, 'Latest events'),
      log,
    ];
  },

  async registrations() {
    const { items } = await api('registrations');
    state.expiring = [];
    const rows = items.map((b) => {
      const left = el('td', {}, '');
      state.expiring.push([left, b.expiresAt]);
      return el('tr', {}, el('td', {}, el('code', {}, b.aor)), el('td', {}, el('code', {}, b.contact)), el('td', {}, b.transport), el('td', {}, el('code', {}, b.source)), el('td', {}, b.edge), left);
    });
    tickExpiries();
    return [table(`${items.length} registered contact${items.length === 1 ? '' : 's'}`, ['AOR', 'Contact', 'Transport', 'Source', 'Edge', 'Expires in'], rows, 'Nobody is registered.')];
  },

  async calls() {
    const [{ active, recent }, traced] = await Promise.all([api('calls'), api('traces?limit=50').catch(() => ({ calls: [] }))]);
    const link = (callId) => el('a', { href: `#/calls/${encodeURIComponent(callId)}` }, el('code', {}, callId));
    const activeRows = active.map((c) => el('tr', {}, el('td', {}, link(c.callId)), el('td', {}, dash(c.from)), el('td', {}, dash(c.to)), el('td', {}, dash(c.routingType)), el('td', {}, c.edges.join(', ') || '–'), el('td', {}, time(c.startedAt)), el('td', {}, c.endedAt ? 'ending' : c.answeredAt ? 'answered' : 'ringing')));
    const recentRows = recent.map((c) => el('tr', {}, el('td', {}, link(c.callId)), el('td', {}, dash(c.from)), el('td', {}, dash(c.to)), el('td', {}, dash(c.routingType)), el('td', {}, c.edges.join(', ') || '–'), el('td', {}, time(c.startedAt)), el('td', { class: c.cause === 'failure' ? 'state-bad' : '' }, `${c.cause}${c.status ? ` ${c.status}` : ''}`), el('td', {}, seconds(c.endedAt - c.startedAt))));
    const tracedRows = traced.calls.map((t) => el('tr', {}, el('td', {}, link(t.callId)), el('td', {}, el('code', {}, t.request)), el('td', {}, dash(t.status)), el('td', {}, t.edge), el('td', {}, t.messages), el('td', {}, time(t.last))));
    return [
      table('Calls in progress', ['Call-ID', 'From', 'To', 'Routing', 'Edges', 'Started', 'State'], activeRows, 'No call in progress.'),
      el('h2', {}, 'Recent calls'),
      table('Ended calls, newest first', ['Call-ID', 'From', 'To', 'Routing', 'Edges', 'Started', 'Ended', 'Duration'], recentRows, 'No call has ended yet.'),
      el('h2', {}, 'Traced dialogs'),
      table('Everything the edges still hold a trace of (calls, registrations, OPTIONS)', ['Call-ID', 'First request', 'Final', 'Edge', 'Messages', 'Last message'], tracedRows, 'The trace rings are empty.'),
    ];
  },

  async call(callId) {
    let trace;
    try {
      trace = await api(`traces/${encodeURIComponent(callId)}`);
    } catch (err) {
      if (err.status === 404) return [el('h2', {}, callId), el('p', { class: 'empty' }, err.message)];
      throw err;
    }
    const detail = el('pre', { class: 'message', id: 'message', 'aria-live': 'polite' }, 'Select a message to read it.');
    const show = (row) => detail.replaceChildren(`${row.transport.toUpperCase()} at ${row.edge}${row.retransmission ? ' (retransmission)' : ''}\n\n${row.text}`);
    const messages = trace.ladder.rows.filter((r) => r.kind === 'message');
    return [
      el('h2', {}, el('span', {}, 'Call '), el('code', {}, callId)),
      el('p', { class: 'muted' }, `${messages.length} messages from ${trace.traces.map((t) => t.edge).join(', ')}${trace.ladder.dropped ? ` (${trace.ladder.dropped} older ones no longer kept)` : ''}. Select an arrow to read the message.`),
      el('div', { class: 'ladder-wrap' }, drawLadder(trace.ladder, show)),
      detail,
      el('h2', {}, 'Messages'),
      el('ol', { class: 'messages', 'aria-label': 'Messages in order' }, messages.map((row) => el('li', {}, el('button', { type: 'button', onclick: () => show(row) }, `${clock(row.at)} ${trace.ladder.columns[row.from].label} → ${trace.ladder.columns[row.to].label}: ${row.label}`)))),
    ];
  },

  async trunks() {
    const { items } = await api('trunks');
    const rows = items.map((t) => el('tr', {},
      el('td', {}, t.ref), el('td', {}, dash(t.name)), el('td', {}, dash(t.inbound)),
      el('td', {}, t.outbound.length ? t.outbound.map((u) => el('div', {}, el('code', {}, u.uri), u.enabled ? '' : ' (disabled)',
        u.registration ? el('span', { class: `state-${u.registration.state}` }, ` · ${u.registration.state}${u.registration.registeredUntil ? ` until ${clock(u.registration.registeredUntil)}` : ''}${u.registration.reason ? ` (${u.registration.reason})` : ''}`) : '',
        u.probe ? el('span', { class: `state-${u.probe.state}` }, ` · probe ${u.probe.state}`) : '')) : '–'),
      el('td', {}, t.sendRegister ? 'yes' : 'no'),
      stateCell(t.registration?.state ?? (t.sendRegister ? 'unknown' : null)),
      el('td', {}, t.registration ? `${dash(t.registration.status)} ${t.registration.reason ?? ''}` : '–'),
      stateCell(t.probe?.state ?? null)));
    return [table(`${items.length} trunk${items.length === 1 ? '' : 's'}`, ['Trunk', 'Name', 'Inbound', 'Outbound', 'Registers', 'Registration', 'Last answer', 'Probe'], rows, 'No Trunk resources.')];
  },

  async plugins() {
    const [status, list] = await Promise.all([api('status'), api('plugins').catch(() => null)]);
    const out = [];
    if (list) {
      const rows = list.plugins.flatMap((p) => (p.entries.length ? p.entries : [null]).map((e) => el('tr', {},
        el('td', {}, p.ref), el('td', {}, e ? `${e.ref}${e.kind === 'processor' ? '' : ` (${e.kind})`}` : '–'), el('td', {}, dash(e?.version ?? p.version)),
        stateCell(e?.state ?? p.state), el('td', {}, e ? e.calls : p.calls), el('td', {}, e ? e.failures : p.failures), el('td', {}, e?.consecutiveFailures ?? '–'),
        el('td', {}, p.installed.length ? p.installed.join(', ') : '–'))));
      out.push(table(`Plugins on host ${status.host?.ref ?? ''} (store: ${list.store ?? 'unavailable'})`, ['Plugin', 'Entry', 'Version', 'State', 'Calls', 'Failures', 'In a row', 'Installed'], rows, 'No plugins.'));
    } else {
      out.push(el('p', { class: 'muted' }, 'No processor host in this process; states reported by hosts on the bus are below.'));
    }
    const reported = (status.pluginStates ?? []).map((e) => el('tr', {}, el('td', {}, dash(e.host)), el('td', {}, e.processor), el('td', {}, `${e.plugin}@${e.version}`), stateCell(e.state), el('td', {}, e.change), el('td', {}, time(Date.parse(e.time)))));
    out.push(el('h2', {}, 'Changes reported by hosts'), table('Last plugin.state event per host and entry', ['Host', 'Entry', 'Plugin', 'State', 'Change', 'At'], reported, 'No plugin has changed state since this node started.'));
    return out;
  },
};

function drawFigures(node, f) {
  const items = [
    ['Calls per second', f ? f.callsPerSecond.toFixed(1) : '–'],
    ['Calls in progress', f ? f.activeCalls : '–'],
    ['Active transactions (this node)', f ? f.activeTransactions : '–'],
    ['Decision p50', f && f.decisionP50Ms !== null ? `${f.decisionP50Ms.toFixed(2)} ms` : '–'],
    ['Decision p99', f && f.decisionP99Ms !== null ? `${f.decisionP99Ms.toFixed(2)} ms` : '–'],
  ];
  node.replaceChildren(...items.map(([name, value]) => el('div', { class: 'figure' }, el('dt', {}, name), el('dd', {}, value))));
}

function drawLog(node) {
  node.replaceChildren(...(state.log.length ? state.log.map((e) => el('li', {}, el('time', {}, time(Date.parse(e.time))), describe(e))) : [el('li', { class: 'empty' }, 'Nothing yet.')]));
}

function describe(e) {
  switch (e.type) {
    case 'endpoint.registered': return `${e.aor} registered ${e.contact} through ${e.edge}${e.refreshed ? ' (refresh)' : ''}`;
    case 'endpoint.unregistered': return `${e.aor} ${e.reason} ${e.contact}`;
    case 'call.started': return `call ${e.callId} started: ${e.from} → ${e.to} (${e.routingType ?? 'no routing type'})`;
    case 'call.answered': return `call ${e.callId} answered after ${seconds(e.setupMs)}`;
    case 'call.ended': return `call ${e.callId} ended: ${e.cause}${e.status ? ` ${e.status}` : ''}`;
    case 'trunk.registration': return `trunk ${e.trunk}: ${e.state}`;
    case 'plugin.state': return `${e.processor} on ${e.host}: ${e.previous ?? '–'} → ${e.state} (${e.change})`;
    default: return e.type;
  }
}

function tickExpiries() {
  const now = Date.now();
  for (const [cell, at] of state.expiring) cell.textContent = `${Math.max(0, Math.round((at - now) / 1000))} s`;
}
setInterval(tickExpiries, 1000);

// ---- the ladder as SVG ----------------------------------------------------------------------------------

const COLUMN = 210;
const ROW = 30;
const LEFT = 110;
const TOP = 64;

function drawLadder(ladder, onSelect) {
  const x0 = (i) => LEFT + i * COLUMN + COLUMN / 2;
  const noteEnd = Math.max(0, ...ladder.rows.filter((r) => r.kind === 'decision').map((r) => x0(r.column) + 22 + (r.label.length + 2) * 7.8));
  const width = Math.max(LEFT + ladder.columns.length * COLUMN, noteEnd);
  const height = TOP + ladder.rows.length * ROW + 20;
  const x = (i) => LEFT + i * COLUMN + COLUMN / 2;
  const root = svg('svg', { class: 'ladder', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'ladder-title ladder-desc' },
    svg('title', { id: 'ladder-title' }, `Ladder of call ${ladder.callId}`),
    svg('desc', { id: 'ladder-desc' }, `${ladder.columns.map((c) => c.label).join(', ')}; the messages are also listed below the diagram.`),
    svg('defs', {}, svg('marker', { id: 'head', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
  ladder.columns.forEach((c, i) => {
    root.append(svg('text', { x: x(i), y: 20, 'text-anchor': 'middle', class: 'head' }, c.label));
    root.append(svg('text', { x: x(i), y: 36, 'text-anchor': 'middle', class: 'addr' }, c.kind === 'edge' ? c.address.split(', ')[0] : c.address));
    root.append(svg('line', { x1: x(i), y1: 44, x2: x(i), y2: height - 10, class: 'lifeline' }));
  });
  ladder.rows.forEach((row, k) => {
    const y = TOP + k * ROW;
    root.append(svg('text', { x: 4, y: y + 4, class: 'time' }, clock(row.at)));
    if (row.kind === 'decision') {
      const text = `▸ ${row.label}`;
      const box = svg('rect', { x: x(row.column) + 6, y: y - 12, width: text.length * 7.8 + 10, height: 20, rx: 3, class: 'note-box' });
      root.append(box, svg('text', { x: x(row.column) + 11, y: y + 2, class: 'note' }, text));
      return;
    }
    const [a, b] = [x(row.from), x(row.to)];
    const status = Number(row.label.slice(0, 3));
    const tone = status >= 400 ? 'final-bad' : status >= 200 && status < 300 ? 'final-ok' : '';
    const group = svg('g', { class: 'row', tabindex: 0, role: 'button', 'aria-label': `${row.label} from ${ladder.columns[row.from].label} to ${ladder.columns[row.to].label}` },
      a === b
        ? svg('path', { d: `M${a},${y - 6} h30 v12 h-28`, fill: 'none', class: `arrow${row.retransmission ? ' retr' : ''}`, 'marker-end': 'url(#head)' })
        : svg('line', { x1: a, y1: y, x2: b, y2: y, class: `arrow${row.retransmission ? ' retr' : ''}`, 'marker-end': 'url(#head)' }),
      svg('text', { x: a === b ? a + 36 : (a + b) / 2, y: y - 5, 'text-anchor': a === b ? 'start' : 'middle', class: `label ${tone}` }, `${row.label}${row.retransmission ? ' (retr.)' : ''}`),
      svg('rect', { x: Math.min(a, b), y: y - 16, width: Math.max(Math.abs(b - a), 40), height: 22, fill: 'transparent' }));
    group.addEventListener('click', () => onSelect(row));
    group.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        onSelect(row);
      }
    });
    root.append(group);
  });
  return root;
}

// ---- routing and live updates ---------------------------------------------------------------------------

function route() {
  const [, page = '', arg] = location.hash.split('/');
  if (page === 'calls' && arg) return { name: 'call', arg: decodeURIComponent(arg), nav: 'calls' };
  const name = pages[page] && page !== 'call' ? page : 'overview';
  return { name, nav: name };
}

let rendering = Promise.resolve();
let current = route();

function render(focus = false) {
  current = route();
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === current.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const target = current;
  rendering = rendering.then(async () => {
    try {
      const nodes = await pages[target.name](target.arg);
      if (target !== current) return;
      main.replaceChildren(...nodes);
      main.dataset.page = target.name;
      document.title = `routr · ${target.name === 'call' ? `call ${target.arg}` : target.name}`;
      if (focus) main.focus();
    } catch (err) {
      main.replaceChildren(el('p', { class: 'state-bad', role: 'alert' }, err.message));
    }
  });
  return rendering;
}

let pending;
/** Redraw the current page soon (events come in bursts: one redraw per burst). */
function refreshSoon(pagesConcerned) {
  if (!pagesConcerned.includes(current.name)) return;
  clearTimeout(pending);
  pending = setTimeout(() => render(false), 150);
}

const CONCERNS = {
  'endpoint.registered': ['registrations', 'overview'],
  'endpoint.unregistered': ['registrations', 'overview'],
  'call.started': ['calls'],
  'call.answered': ['calls'],
  'call.ended': ['calls', 'call'],
  'trunk.registration': ['trunks'],
  'plugin.state': ['plugins', 'overview'],
};

function connect() {
  const source = new EventSource('/api/v1/events');
  source.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'live on';
  });
  source.addEventListener('error', () => {
    live.textContent = 'reconnecting…';
    live.className = 'live off';
  });
  source.addEventListener('figures', (message) => {
    state.figures = JSON.parse(message.data);
    const node = document.getElementById('figures');
    if (node) drawFigures(node, state.figures);
  });
  for (const type of Object.keys(CONCERNS)) {
    source.addEventListener(type, (message) => {
      const event = JSON.parse(message.data);
      state.log.unshift(event);
      state.log.length = Math.min(state.log.length, 30);
      const log = document.getElementById('event-log');
      if (log) drawLog(log);
      if (current.name === 'call' && event.callId !== current.arg) return;
      refreshSoon(CONCERNS[type]);
    });
  }
}

window.addEventListener('hashchange', () => render(true));
render(false);
connect();
