// The queues: depth (ready, delayed), in flight, oldest message's age, failed and dead-letter
// queue size, and a peek at the messages.

import { api } from './api.js';
import { repeat } from './live.js';
import { h, table, duration, pretty } from './dom.js';

const PEEK = 20;

export async function render(main) {
  const list = h('div', {});
  const peek = h('div', {});
  main.append(h('h1', {}, 'Queues'), list, peek);
  async function load() {
    const { queues } = await api('/queues');
    const depth = new Map(queues.map((q) => [q.name, q.stats]));
    const now = Date.now();
    list.replaceChildren(queues.length ? table(['Name', 'Ready#', 'Delayed#', 'In flight#', 'Oldest#', 'Failed#', 'Dead-letter queue', 'DLQ size#', ''], queues.map((q) => [
      q.name, String(q.stats.ready), String(q.stats.delayed), String(q.stats.inFlight),
      q.stats.oldestSentMs ? duration(now - q.stats.oldestSentMs) : '',
      String(q.stats.failed), q.deadLetter || '',
      q.deadLetter && depth.has(q.deadLetter) ? String(depth.get(q.deadLetter).ready + depth.get(q.deadLetter).inFlight) : '',
      h('button', { onclick: () => showPeek(q.name) }, 'Peek'),
    ])) : h('p', { class: 'muted' }, 'The project has no queues.'));
  }
  async function showPeek(name) {
    const { messages } = await api(`/queues/${encodeURIComponent(name)}/messages?limit=${PEEK}`);
    peek.replaceChildren(h('h2', {}, `First messages of ${name}`), messages.length ? h('pre', {}, pretty(messages)) : h('p', { class: 'muted' }, 'Empty.'));
  }
  return repeat(load);
}
