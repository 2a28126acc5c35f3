// The router: the part of the URL after `#` names the page; each page module renders into
// <main> and may return a function that stops its live updates.

import { failure } from './dom.js';
import * as executions from './executions.js';
import * as execution from './execution.js';
import * as maprun from './maprun.js';
import * as flows from './flows.js';
import * as functions from './functions.js';
import * as queues from './queues.js';
import * as cdc from './cdc.js';

const routes = [
  [/^\/executions\/?$/, executions.render],
  [/^\/executions\/(.+)$/, execution.render],
  [/^\/map-runs\/(.+)$/, maprun.render],
  [/^\/flows\/?$/, flows.renderList],
  [/^\/flows\/(.+)$/, flows.renderFlow],
  [/^\/functions\/?$/, functions.render],
  [/^\/queues\/?$/, queues.render],
  [/^\/cdc\/?$/, cdc.render],
];

let stop = null;

async function show() {
  const main = document.getElementById('main');
  if (stop) stop();
  stop = null;
  const [path, query] = (location.hash.slice(1) || '/executions').split('?');
  const params = new URLSearchParams(query || '');
  for (const a of document.querySelectorAll('.top nav a')) {
    a.classList.toggle('current', path.startsWith(a.getAttribute('href').slice(1)));
  }
  main.replaceChildren();
  const route = routes.find(([re]) => re.test(path));
  if (!route) {
    location.hash = '#/executions';
    return;
  }
  const args = path.match(route[0]).slice(1).map(decodeURIComponent);
  try {
    stop = (await route[1](main, ...args, params)) || null;
  } catch (e) {
    main.replaceChildren(failure(e));
  }
}

window.addEventListener('hashchange', show);
show();
