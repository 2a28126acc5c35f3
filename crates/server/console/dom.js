// Small helpers to build the page: elements, times, durations, JSON.

/** Creates an element: `h('a', {href: '#/x'}, 'text', child)`. `on*` attributes add listeners. */
export function h(tag, attrs = {}, ...children) {
  const svg = ['svg', 'g', 'rect', 'path', 'text', 'title', 'defs', 'marker'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A time of day with the date, local. */
export function time(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

/** A duration: `850 ms`, `12.3 s`, `4 min 5 s`. */
export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** A JSON value as indented text. */
export function pretty(v) {
  return v === undefined ? '' : JSON.stringify(v, null, 2);
}

/** A status badge. */
export function badge(status) {
  return h('span', { class: `badge ${status}` }, status);
}

/** A table from column titles and rows of cells; a column title ending in `#` is numeric. */
export function table(columns, rows) {
  const num = columns.map((c) => c.endsWith('#'));
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c, i) => h('th', { class: num[i] ? 'num' : null, scope: 'col' }, c.replace(/#$/, ''))))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((cell, i) => h('td', { class: num[i] ? 'num' : null }, cell))))));
}

/** A `<dl>` of label and value pairs (empty values left out). */
export function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** An error message in place of a page's content. */
export function failure(e) {
  return h('p', { class: 'error', role: 'alert' }, `Error: ${e.message}`);
}
