// Draws a laid out flow (`GET /v1/flows/{name}/graph`) as SVG: a box per state, compound boxes
// for Parallel branches and Map processors, arrows between boxes. Boxes are focusable and
// selectable with the mouse or the keyboard; their colour follows a status.

import { h } from './dom.js';
import { STATUSES } from './states.js';

const COMPOUND = new Set(['Parallel', 'Map', 'Branch']);
const MARGIN = 8;

/** The path of an arrow from box `a` to box `b`; loops go round the right-hand side. */
function arrow(a, b, back) {
  const x1 = a.x + a.w / 2;
  const y1 = a.y + a.h;
  const x2 = b.x + b.w / 2;
  const y2 = b.y;
  if (back) {
    const side = Math.max(a.x + a.w, b.x + b.w) + 20;
    return `M${a.x + a.w},${a.y + a.h / 2} C${side},${a.y + a.h / 2} ${side},${b.y + b.h / 2} ${b.x + b.w},${b.y + b.h / 2}`;
  }
  const mid = (y1 + y2) / 2;
  return `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`;
}

/** A legend of the status colours. */
export function legend() {
  const colour = { none: 'var(--s-none)', running: 'var(--s-running)', succeeded: 'var(--s-succeeded)', failed: 'var(--s-failed)', caught: 'var(--s-caught)', retried: 'var(--s-retried)' };
  return h('div', { class: 'legend', 'aria-label': 'Status colours' },
    STATUSES.map((s) => h('span', { style: `--c: ${colour[s]}` }, s === 'none' ? 'not reached' : s)));
}

/** The SVG of `graph`; `onSelect(node)` is called when a state is chosen. Returns
 * `{svg, paint(statusOf)}`, `paint` colouring each state by `statusOf(name)`. */
export function draw(graph, onSelect) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const edges = h('g', { class: 'edges' }, graph.edges.map((e) => {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    return h('path', { class: `edge ${e.kind}`, d: arrow(a, b, e.back), 'marker-end': 'url(#arrowhead)' });
  }));
  const boxes = new Map();
  let selected = null;
  const choose = (node, g) => {
    if (selected) selected.classList.remove('selected');
    selected = g;
    g.classList.add('selected');
    onSelect(node);
  };
  const groups = graph.nodes.map((n) => {
    const compound = COMPOUND.has(n.type);
    const label = n.type === 'Branch' ? n.name : `${n.name}`;
    const kind = n.type === 'Map' && n.distributed ? 'Distributed Map' : n.type;
    const g = h('g', {
      class: `${n.type === 'Branch' ? 'branch' : 'state'} ${compound ? 'group' : ''} status-none`,
      'data-id': n.id,
      'data-parent': n.parent ?? '',
      'data-name': n.name,
      tabindex: n.type === 'Branch' ? null : 0,
      role: n.type === 'Branch' ? null : 'button',
      'aria-label': `${kind} ${n.name}`,
    },
    h('title', {}, `${kind}: ${n.name}`),
    h('rect', { x: n.x, y: n.y, width: n.w, height: n.h }),
    h('text', { x: compound ? n.x + 8 : n.x + n.w / 2, y: compound ? n.y + 17 : n.y + n.h / 2 + 4, 'text-anchor': compound ? 'start' : 'middle' },
      compound && n.type !== 'Branch' ? `${label} · ${kind}` : label));
    if (n.type !== 'Branch') {
      g.addEventListener('click', (ev) => { ev.stopPropagation(); choose(n, g); });
      g.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); choose(n, g); }
      });
    }
    boxes.set(n.id, g);
    return g;
  });
  const svg = h('svg', {
    xmlns: 'http://www.w3.org/2000/svg',
    class: 'flow-graph',
    width: graph.width + 2 * MARGIN + 30,
    height: graph.height + 2 * MARGIN,
    viewBox: `${-MARGIN} ${-MARGIN} ${graph.width + 2 * MARGIN + 30} ${graph.height + 2 * MARGIN}`,
    role: 'group',
    'aria-label': 'Flow graph',
  },
  h('defs', {}, h('marker', { id: 'arrowhead', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    h('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a909c' }))),
  groups, edges);
  const paint = (statusOf) => {
    for (const n of graph.nodes) {
      if (n.type === 'Branch') continue;
      const g = boxes.get(n.id);
      const status = statusOf(n.name);
      for (const s of STATUSES) g.classList.toggle(`status-${s}`, s === status);
      g.setAttribute('data-status', status);
    }
  };
  return { svg, paint };
}
