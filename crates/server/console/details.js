// The panel of one state of an execution: status, input, output, error and cause, retries,
// duration, and the log lines of the functions it called while it ran.

import { api } from './api.js';
import { h, pretty, duration, facts, time } from './dom.js';

const LOG_LINES = 200;

/** Fills `panel` with what `state` (a record of states.js, or undefined) did. */
export async function show(panel, node, state, mapRuns) {
  const s = state || { status: 'none', calls: [], retries: 0, entries: 0 };
  const runs = (mapRuns || []).filter((r) => r.stateName === node.name);
  panel.replaceChildren(
    h('h2', { id: 'state-title' }, `${node.name} `, h('span', { class: 'muted' }, `(${node.type})`)),
    facts([
      ['Status', h('span', { class: `state-status status-${s.status}`, 'data-status': s.status }, s.status === 'none' ? 'not reached' : s.status)],
      ['Entered', time(s.enteredMs)],
      ['Duration', s.enteredMs && s.exitedMs ? duration(s.exitedMs - s.enteredMs) : ''],
      ['Times entered', s.entries > 1 ? String(s.entries) : ''],
      ['Retries', s.retries ? String(s.retries) : ''],
      ['Error', s.error ? h('span', { class: 'error state-error' }, s.error) : ''],
    ]),
    s.cause ? h('div', {}, h('h3', {}, 'Cause'), h('pre', { class: 'state-cause' }, s.cause)) : '',
    runs.length ? h('p', {}, runs.map((r) => h('a', { href: `#/map-runs/${encodeURIComponent(r.id)}?execution=${encodeURIComponent(r.execution)}` }, `Map run ${r.id.slice(0, 8)}…`))) : '',
    s.input !== undefined ? h('div', {}, h('h3', {}, 'Input'), h('pre', { class: 'state-input' }, pretty(s.input))) : '',
    s.output !== undefined ? h('div', {}, h('h3', {}, 'Output'), h('pre', { class: 'state-output' }, pretty(s.output))) : '',
  );
  const fns = [...new Set(s.calls.map((c) => c.function).filter(Boolean))];
  for (const fn of fns) {
    const logs = h('pre', { class: 'state-logs' }, 'loading…');
    panel.append(h('h3', {}, `Logs of ${fn}`), logs);
    const from = (s.enteredMs || 0) - 1000;
    const to = (s.exitedMs || Date.now()) + 1000;
    try {
      const { lines } = await api(`/functions/${encodeURIComponent(fn)}/logs?tail=${LOG_LINES}`);
      const mine = lines.filter((l) => {
        const ms = Date.parse(l.ts);
        return ms >= from && ms <= to;
      });
      logs.textContent = mine.length ? mine.map((l) => `${l.ts} ${l.request_id || ''} ${l.line}`).join('\n') : 'No lines while this state ran.';
    } catch (e) {
      logs.textContent = e.message;
    }
  }
}
