// One execution: its flow drawn with each state's status, the history beside it, the chosen
// state's details, its Distributed Map runs, and stop, redrive and start again. Kept live while
// it runs.

import { api } from './api.js';
import { h, time, duration, badge, facts, pretty, failure } from './dom.js';
import { onChange } from './live.js';
import { Tracker } from './states.js';
import { draw, legend } from './graph.js';
import * as details from './details.js';

/** The most history rows shown (the rest stay paged in the API). */
const SHOWN_EVENTS = 2000;
const PAGE = 1000;

export async function render(main, id) {
  const enc = encodeURIComponent(id);
  let exec = await api(`/executions/${enc}`);
  const header = h('div', {});
  const actions = h('div', { class: 'actions' });
  const message = h('p', { role: 'status' });
  const graphPanel = h('div', { class: 'panel graph', id: 'graph' });
  const statePanel = h('div', { class: 'panel', id: 'state', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Choose a state to see its input, output and error.'));
  const runsPanel = h('div', { id: 'map-runs' });
  const rows = h('tbody', {});
  const history = h('div', { class: 'panel history', id: 'history' },
    h('table', {}, h('thead', {}, h('tr', {}, ['#', 'Type', 'State', 'Time'].map((c) => h('th', { scope: 'col' }, c)))), rows));
  main.append(h('h1', {}, `Execution ${id}`), header, actions, message,
    h('div', { class: 'split' },
      h('section', { 'aria-label': 'Flow' }, legend(), graphPanel, runsPanel, statePanel),
      h('section', { 'aria-label': 'History' }, h('h2', {}, 'Events'), history)));

  const tracker = new Tracker();
  let graph = null;
  let layout = { nodes: [] };
  let mapRuns = [];
  let selected = null;
  let shown = 0;

  function renderHeader() {
    header.replaceChildren(facts([
      ['Status', badge(exec.status)],
      ['Flow', h('a', { href: `#/flows/${encodeURIComponent(exec.flow)}` }, exec.flow)],
      ['Started', time(exec.startMs)],
      ['Duration', duration((exec.stopMs || Date.now()) - exec.startMs)],
      ['Error', exec.error ? h('span', { class: 'error' }, exec.error) : ''],
      ['Redriven', exec.redriveCount ? String(exec.redriveCount) : ''],
      // A Distributed Map's child: its run is `PARENT/STATE:N`.
      ['Item of', exec.mapRun ? h('a', { href: `#/map-runs/${encodeURIComponent(exec.mapRun)}?execution=${encodeURIComponent(exec.mapRun.slice(0, exec.mapRun.lastIndexOf('/')))}` }, exec.mapRun) : ''],
    ]));
    const act = (label, fn) => h('button', { onclick: async (e) => {
      e.target.disabled = true;
      try { message.textContent = await fn(); } catch (err) { message.textContent = `${label} failed: ${err.message}`; }
      await refresh();
    } }, label);
    actions.replaceChildren(
      exec.status === 'RUNNING' ? act('Stop', async () => { await api(`/executions/${enc}/stop`, { body: {} }); return 'Stopping.'; }) : '',
      exec.redrivable ? act('Redrive', async () => { await api(`/executions/${enc}/redrive`, { body: {} }); return 'Redriven.'; }) : '',
      act('Start again', async () => {
        const started = await api(`/flows/${encodeURIComponent(exec.flow)}/executions`, { body: { input: exec.input } });
        location.hash = `#/executions/${encodeURIComponent(started.id)}`;
        return 'Started.';
      }));
  }

  function addRows(events) {
    for (const e of events) {
      if (shown === SHOWN_EVENTS) {
        shown += 1;
        rows.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, `The first ${SHOWN_EVENTS} events are shown; GET /v1/executions/${id}/history pages through every one.`)));
      }
      if (shown >= SHOWN_EVENTS) break;
      shown += 1;
      const tr = h('tr', { tabindex: 0 },
        h('td', {}, String(e.id)), h('td', {}, e.kind), h('td', {}, e.details?.name || ''), h('td', {}, time(e.timestamp_ms)));
      const toggle = () => {
        if (tr.nextSibling?.classList?.contains('event-details')) tr.nextSibling.remove();
        else tr.after(h('tr', { class: 'event-details' }, h('td', { colspan: 4 }, h('pre', {}, pretty(e.details)))));
      };
      tr.addEventListener('click', toggle);
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') toggle(); });
      rows.append(tr);
    }
  }

  async function loadHistory() {
    for (;;) {
      const page = await api(`/executions/${enc}/history?after=${tracker.lastId}&limit=${PAGE}`);
      tracker.add(page.events);
      addRows(page.events);
      if (!page.next) break;
    }
  }

  async function loadMapRuns() {
    const { mapRuns: runs } = await api(`/executions/${enc}/map-runs`);
    // A run's id is `EXECUTION/STATE:N`.
    mapRuns = runs.map((r) => ({ ...r, execution: id, stateName: r.id.slice(id.length + 1).replace(/:\d+$/, '') }));
    runsPanel.replaceChildren(mapRuns.length ? h('div', {}, h('h2', {}, 'Distributed Map runs'),
      h('ul', {}, mapRuns.map((r) => h('li', {}, h('a', { href: `#/map-runs/${encodeURIComponent(r.id)}?execution=${enc}` }, `${r.stateName || 'Map'}: ${r.progress.succeeded} succeeded, ${r.progress.failed} failed of ${r.progress.started}${r.progress.source_done ? '' : '+'}`))))) : '');
  }

  // The states of Distributed Map processors run in child executions: they take the status of
  // their state's latest run.
  function childStatuses() {
    const inner = new Map();
    for (const r of mapRuns) {
      const status = !r.done ? 'running' : r.progress.failed > 0 || r.progress.failure ? 'failed' : 'succeeded';
      const map = layout.nodes.find((n) => n.name === r.stateName && n.distributed);
      for (const n of layout.nodes) if (map && n.id.startsWith(`${map.id}/`)) inner.set(n.name, status);
    }
    return inner;
  }

  async function refresh() {
    exec = await api(`/executions/${enc}`);
    renderHeader();
    await loadHistory();
    await loadMapRuns();
    if (graph) {
      const inner = childStatuses();
      graph.paint((name) => inner.get(name) ?? tracker.status(name));
    }
    if (selected) details.show(statePanel, selected, tracker.states.get(selected.name), mapRuns);
  }

  renderHeader();
  try {
    layout = await api(`/flows/${encodeURIComponent(exec.flow)}/graph`);
    graph = draw(layout, (node) => {
      selected = node;
      details.show(statePanel, node, tracker.states.get(node.name), mapRuns);
    });
    graphPanel.append(graph.svg);
    graph.paint(() => 'none');
  } catch (e) {
    graphPanel.append(failure(e));
  }
  await refresh();

  let pending = null;
  const stop = onChange((change) => {
    if (!change.poll && change.id !== id && exec.status !== 'RUNNING') return;
    if (change.poll && exec.status !== 'RUNNING') return;
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh().catch(() => {}); }, 300);
  });
  // While it runs, states change without the execution's status changing: poll too.
  const timer = setInterval(() => { if (exec.status === 'RUNNING') refresh().catch(() => {}); }, 1500);
  return () => { stop(); clearInterval(timer); };
}
