// The executions list: status, flow, start, duration; filters by status, flow, name prefix and
// start time; pages; refreshed on every execution change.

import { api } from './api.js';
import { h, time, duration, badge, table } from './dom.js';
import { onChange } from './live.js';

const STATUSES = ['', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];
const PAGE = 50;

/** The query of the list request for the filters in `params` and the page cursor. */
function query(params, next) {
  const q = new URLSearchParams({ limit: PAGE });
  for (const k of ['status', 'flow', 'prefix']) if (params.get(k)) q.set(k, params.get(k));
  for (const k of ['since', 'until']) if (params.get(k)) q.set(k, new Date(params.get(k)).getTime());
  if (next) q.set('next', next);
  return q;
}

export async function render(main, params) {
  const { flows } = await api('/flows');
  const field = (label, control) => h('label', {}, label, control);
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter executions' },
    field('Status', h('select', { name: 'status' }, STATUSES.map((s) => h('option', { value: s, selected: params.get('status') === s }, s || 'any')))),
    field('Flow', h('select', { name: 'flow' }, h('option', { value: '' }, 'any'),
      flows.map((f) => h('option', { value: f.name, selected: params.get('flow') === f.name }, f.name)))),
    field('Name starts with', h('input', { name: 'prefix', value: params.get('prefix') || '' })),
    field('Started from', h('input', { name: 'since', type: 'datetime-local', value: params.get('since') || '' })),
    field('Started before', h('input', { name: 'until', type: 'datetime-local', value: params.get('until') || '' })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = `#/executions?${q}`;
  });
  const list = h('div', { id: 'executions' });
  const pager = h('div', { class: 'pager' });
  main.append(h('h1', {}, 'Executions'), form, list, pager);

  // The cursors of the pages before the current one, and the current one's.
  const cursors = [];
  let cursor = '';
  async function load() {
    const page = await api(`/executions?${query(params, cursor)}`);
    const now = Date.now();
    list.replaceChildren(page.executions.length === 0
      ? h('p', { class: 'muted' }, 'No executions.')
      : table(['Name', 'Status', 'Flow', 'Started', 'Duration#'], page.executions.map((e) => [
        h('a', { href: `#/executions/${encodeURIComponent(e.id)}` }, e.id),
        badge(e.status),
        e.flow,
        time(e.startMs),
        duration((e.stopMs || now) - e.startMs),
      ])));
    pager.replaceChildren(
      h('button', { disabled: cursors.length === 0, onclick: () => { cursor = cursors.pop(); load(); } }, '← Newer'),
      h('button', { disabled: !page.next, onclick: () => { cursors.push(cursor); cursor = page.next; load(); } }, 'Older →'),
      h('span', { class: 'muted' }, `page ${cursors.length + 1}`));
  }
  await load();
  let pending = null;
  return onChange(() => {
    if (pending) return;
    pending = setTimeout(() => { pending = null; load().catch(() => {}); }, 300);
  });
}
