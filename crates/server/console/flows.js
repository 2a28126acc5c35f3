// The flows: a list, and one flow's definition (with line numbers) and graph, with a form that
// starts an execution from JSON input checked before it is sent.

import { api } from './api.js';
import { h, time, table } from './dom.js';
import { draw } from './graph.js';
import { check } from './jsoncheck.js';

export async function renderList(main) {
  const { flows } = await api('/flows');
  main.append(h('h1', {}, 'Flows'), table(['Name', 'Created', 'From the project'], flows.map((f) => [
    h('a', { href: `#/flows/${encodeURIComponent(f.name)}` }, f.name), time(f.createdMs), f.fromProject ? 'yes' : 'no',
  ])));
}

/** The source with line numbers, line `bad` marked. */
function source(text, bad) {
  return h('div', { class: 'source', role: 'region', 'aria-label': 'Definition', tabindex: 0 },
    text.split('\n').flatMap((line, i) => [
      h('span', { class: `ln ${i + 1 === bad ? 'bad' : ''}` }, String(i + 1)),
      h('pre', { class: i + 1 === bad ? 'bad' : '' }, line || ' '),
    ]));
}

export async function renderFlow(main, name) {
  const enc = encodeURIComponent(name);
  const flow = await api(`/flows/${enc}`);
  const layout = await api(`/flows/${enc}/graph`);
  const input = h('textarea', { id: 'start-input', 'aria-describedby': 'input-error', spellcheck: 'false' }, '{}');
  const inputLines = h('div', { id: 'input-lines' });
  const error = h('p', { id: 'input-error', class: 'error', role: 'alert' });
  const execName = h('input', { id: 'start-name', placeholder: 'generated when empty' });
  const form = h('form', { id: 'start-form', 'aria-label': 'Start an execution' },
    h('h2', {}, 'Start an execution'),
    h('label', {}, 'Name ', execName),
    h('label', { for: 'start-input' }, h('div', {}, 'Input (JSON)')), input, inputLines, error,
    h('button', { class: 'primary', type: 'submit' }, 'Start'));
  const showCheck = () => {
    const result = check(input.value);
    input.setAttribute('aria-invalid', result.ok ? 'false' : 'true');
    error.textContent = result.ok ? '' : `Line ${result.line}, column ${result.column}: ${result.message}`;
    inputLines.replaceChildren(result.ok ? '' : source(input.value, result.line));
    return result;
  };
  input.addEventListener('input', showCheck);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const result = showCheck();
    if (!result.ok) return;
    try {
      const body = { input: result.value };
      if (execName.value.trim()) body.name = execName.value.trim();
      const started = await api(`/flows/${enc}/executions`, { body });
      location.hash = `#/executions/${encodeURIComponent(started.id)}`;
    } catch (err) {
      error.textContent = err.message;
    }
  });
  const graph = draw(layout, () => {});
  graph.paint(() => 'none');
  main.append(h('h1', {}, `Flow ${name}`),
    h('p', {}, h('a', { href: `#/executions?flow=${enc}` }, 'Its executions')),
    h('div', { class: 'split' },
      h('section', {}, h('div', { class: 'panel graph', id: 'graph' }, graph.svg), form),
      h('section', {}, h('h2', {}, 'Definition'), source(flow.source, null))));
}
