// A Distributed Map run: progress (succeeded, failed, running, pending of the total), items
// per second, its items a page at a time with their errors and child executions, and the
// failed ones found by reading the pages in turn. Never loads every item.

import { api } from './api.js';
import { h, badge, duration, table } from './dom.js';

const PAGE = 100;
const SCAN_PAGE = 1000;
/** How many pages one "find failed items" reads. */
const SCAN_PAGES = 20;

function cell(v) {
  const text = JSON.stringify(v);
  return h('code', {}, text.length > 160 ? `${text.slice(0, 160)}…` : text);
}

function itemRow(item) {
  return [
    String(item.index),
    badge(item.status),
    cell(item.input),
    item.status === 'SUCCEEDED' ? cell(item.output) : h('span', { class: 'error' }, `${item.output?.Error ?? ''} ${item.output?.Cause ?? ''}`.slice(0, 300)),
    item.execution ? h('a', { href: `#/executions/${encodeURIComponent(item.execution)}` }, 'child') : '',
    duration(item.stop_ms - item.start_ms),
  ];
}

export async function render(main, run, params) {
  const execution = params.get('execution');
  const head = h('div', {});
  const bar = h('div', { class: 'progress', role: 'img' });
  const items = h('div', { id: 'items' });
  const pager = h('div', { class: 'pager' });
  const failedList = h('div', { id: 'failed-items' });
  main.append(h('h1', {}, 'Map run'),
    h('p', {}, 'of ', h('a', { href: `#/executions/${encodeURIComponent(execution)}` }, execution)),
    head, bar, h('h2', {}, 'Failed items'), failedList, h('h2', {}, 'Items'), items, pager);

  let samples = [];
  async function progress() {
    const { mapRuns } = await api(`/executions/${encodeURIComponent(execution)}/map-runs`);
    const r = mapRuns.find((m) => m.id === run);
    if (!r) throw new Error(`no map run ${run} in ${execution}`);
    const p = r.progress;
    const finished = p.succeeded + p.failed;
    const total = p.source_done ? p.started : null;
    const running = r.done ? 0 : p.started - finished;
    samples.push([Date.now(), finished]);
    samples = samples.slice(-10);
    const [t0, n0] = samples[0];
    const rate = samples.length > 1 ? ((finished - n0) * 1000) / (Date.now() - t0) : null;
    head.replaceChildren(table(['Succeeded#', 'Failed#', 'Running#', 'Pending#', 'Total#', 'Items/s#', 'State'], [[
      String(p.succeeded), String(p.failed), String(running),
      total === null ? '?' : String(Math.max(0, total - p.started)),
      total === null ? `${p.started}+` : String(total),
      rate === null ? '' : rate.toFixed(1),
      r.done ? (p.failure ? h('span', { class: 'error' }, p.failure.error || 'failed') : 'done') : 'running',
    ]]));
    const of = Math.max(total ?? p.started, 1);
    bar.setAttribute('aria-label', `${p.succeeded} succeeded, ${p.failed} failed of ${of}`);
    bar.replaceChildren(
      h('div', { style: `width:${(100 * p.succeeded) / of}%;background:var(--s-succeeded)` }),
      h('div', { style: `width:${(100 * p.failed) / of}%;background:var(--s-failed)` }),
      h('div', { style: `width:${(100 * running) / of}%;background:var(--s-running)` }));
    return r;
  }

  let from = Number(params.get('from') || 0);
  async function page() {
    const got = await api(`/map-runs/${encodeURIComponent(run)}/items?from=${from}&limit=${PAGE}`);
    items.replaceChildren(got.items.length ? table(['Index#', 'Status', 'Input', 'Output or error', 'Execution', 'Duration#'], got.items.map(itemRow)) : h('p', { class: 'muted' }, 'No finished items here.'));
    pager.replaceChildren(
      h('button', { disabled: from === 0, onclick: () => { from = Math.max(0, from - PAGE); page(); } }, '← Previous'),
      h('button', { disabled: got.next === null, onclick: () => { from = got.next; page(); } }, 'Next →'),
      h('span', { class: 'muted' }, `from item ${from}`));
  }

  let scanFrom = 0;
  const failed = [];
  async function scan() {
    for (let i = 0; i < SCAN_PAGES && scanFrom !== null; i += 1) {
      const got = await api(`/map-runs/${encodeURIComponent(run)}/items?from=${scanFrom}&limit=${SCAN_PAGE}`);
      failed.push(...got.items.filter((it) => it.status !== 'SUCCEEDED'));
      scanFrom = got.next;
    }
    failedList.replaceChildren(
      failed.length ? table(['Index#', 'Status', 'Input', 'Error', 'Execution', 'Duration#'], failed.map(itemRow)) : h('p', { class: 'muted' }, 'None found.'),
      scanFrom !== null ? h('button', { onclick: scan }, 'Look further') : '');
  }

  const r = await progress();
  await page();
  if (r.progress.failed > 0) await scan();
  else failedList.replaceChildren(h('p', { class: 'muted' }, 'None.'));
  const timer = setInterval(async () => {
    try {
      const now = await progress();
      if (now.done) clearInterval(timer);
    } catch { /* the next tick tries again */ }
  }, 1000);
  return () => clearInterval(timer);
}
