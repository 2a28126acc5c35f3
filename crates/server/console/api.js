// The client of the node's /v1 API: JSON in and out, the bearer token asked for when the node
// wants one and kept for the browser session.

const TOKEN = 'sluice.token';

/** An error answer of the API: its status, code and message. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.error;
  }
}

/** The headers that carry the token, if one is known. */
export function authHeaders() {
  const token = sessionStorage.getItem(TOKEN);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let asking = null;

/** Shows the token dialog once (however many requests wait for it); resolves when submitted. */
function askToken(message) {
  if (asking) return asking;
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  document.getElementById('token-error').textContent = message;
  asking = new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      sessionStorage.setItem(TOKEN, input.value.trim());
      asking = null;
      resolve();
    }, { once: true });
  });
  dialog.showModal();
  input.focus();
  return asking;
}

/** Calls `/v1` + `path`; `body` (any JSON) is sent with POST. Resolves to the JSON answer. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = authHeaders();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/v1${path}`, {
    method: body !== undefined ? 'POST' : method,
    headers,
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 || res.status === 403) {
    await askToken(data.message || 'The token was refused.');
    return api(path, { method, body });
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** Every page of a paged list: `key` holds the items, `next` the cursor given as `cursor`. */
export async function* pages(path, key, cursor, first = '') {
  let next = first;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page = await api(`${path}${next !== '' ? `${sep}${cursor}=${encodeURIComponent(next)}` : ''}`);
    yield page[key];
    next = page.next ?? '';
  } while (next !== '');
}
