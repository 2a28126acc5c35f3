// Live updates: one stream of `/v1/events` (server-sent events, read with fetch so that the
// token goes along) shared by every page; reconnected when it drops, and replaced by polling
// after repeated failures.

import { authHeaders } from './api.js';

const listeners = new Set();
const status = () => document.getElementById('live');
let started = false;
let polling = null;

function emit(event) {
  for (const fn of listeners) fn(event);
}

async function connect() {
  const res = await fetch('/v1/events', { headers: { ...authHeaders(), Accept: 'text/event-stream' } });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  status().textContent = '● live';
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).join('\n');
      if (data) emit(JSON.parse(data));
    }
  }
}

async function run() {
  let failures = 0;
  while (failures < 5) {
    try {
      await connect();
      failures = 0;
    } catch {
      failures += 1;
    }
    status().textContent = '○ reconnecting';
    await new Promise((r) => setTimeout(r, 1000 * failures));
  }
  status().textContent = '○ polling';
  polling = setInterval(() => emit({ poll: true }), 3000);
}

/** Calls `fn` with each execution change (`{id, flow, status, startMs, stopMs}`), or with
 * `{poll: true}` every few seconds when the stream is unavailable; returns the unsubscriber. */
export function onChange(fn) {
  listeners.add(fn);
  if (!started) {
    started = true;
    run();
  }
  return () => listeners.delete(fn);
}

/** Whether updates come from polling. */
export function isPolling() {
  return polling !== null;
}

/** Runs `load` now and again every `ms` (a failed run is left to the next); returns the
 * function that stops it. */
export async function repeat(load, ms = 3000) {
  await load();
  const timer = setInterval(() => load().catch(() => {}), ms);
  return () => clearInterval(timer);
}
