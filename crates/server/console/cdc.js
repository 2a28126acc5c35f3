// The CDC sources: phase, lag, events per second, positions and the last error.

import { api } from './api.js';
import { repeat } from './live.js';
import { h, table, time } from './dom.js';

export async function render(main) {
  const list = h('div', {});
  main.append(h('h1', {}, 'CDC sources'), list);
  async function load() {
    const { sources } = await api('/cdc');
    list.replaceChildren(sources.length ? table(['Name', 'Phase', 'Lag (WAL bytes)#', 'Events/s#', 'Events#', 'Checkpoint', 'At', 'Error'], sources.map((s) => [
      s.name, s.phase, String(s.lagBytes ?? ''), String(s.eventsPerSecond ?? ''), String(s.events ?? ''),
      s.checkpointLsn || s.storedLsn || '', time(s.checkpointAt || s.storedAt), s.error ? h('span', { class: 'error' }, s.error) : '',
    ])) : h('p', { class: 'muted' }, 'The project has no CDC sources.'));
  }
  return repeat(load);
}
