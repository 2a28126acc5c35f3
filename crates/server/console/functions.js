// The functions: warm instances (busy, idle), callers waiting, invocations, errors, cold
// starts, median and 99th percentile duration of the recent invocations, and each one's recent
// log lines.

import { api } from './api.js';
import { repeat } from './live.js';
import { h, table, duration } from './dom.js';

const LOG_LINES = 50;

export async function render(main) {
  const list = h('div', {});
  const logs = h('div', {});
  main.append(h('h1', {}, 'Functions'), list, logs);
  async function load() {
    const { functions } = await api('/functions');
    list.replaceChildren(table(['Name', 'Instances#', 'Busy#', 'Idle#', 'Waiting#', 'Invocations#', 'Errors#', 'p50#', 'p99#', 'Cold starts#', ''], functions.map((f) => [
      f.name, String(f.instances), String(f.busy), String(f.idle), String(f.waiting), String(f.invocations),
      h('span', { class: f.errors ? 'error' : null }, String(f.errors ?? '')), duration(f.p50Ms), duration(f.p99Ms), String(f.coldStarts),
      h('button', { onclick: () => showLogs(f.name) }, 'Logs'),
    ])));
  }
  async function showLogs(name) {
    const { lines } = await api(`/functions/${encodeURIComponent(name)}/logs?tail=${LOG_LINES}`);
    logs.replaceChildren(h('h2', {}, `Last lines of ${name}`),
      h('pre', { class: 'function-logs' }, lines.length ? lines.map((l) => `${l.ts} ${l.stream ?? ''} ${l.request_id || '-'} ${l.line}`).join('\n') : 'Nothing printed yet.'));
  }
  return repeat(load);
}
