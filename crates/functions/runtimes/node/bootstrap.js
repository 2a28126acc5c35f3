'use strict';
// Sluice runtime for Node.js handlers.
//
// An AWS Lambda Runtime API client using only Node's standard library. It loads the
// handler named by _HANDLER (`path/to/module.export`) from LAMBDA_TASK_ROOT, calls it
// as Lambda does (async, Promise-returning, callback-style or plain return value) and
// posts results to /response and errors to /error in the format of AWS's Node runtime.
//
// Only `net`, `fs` and `path` are loaded before the handler: the Runtime API is spoken on
// one kept-alive socket, and `http` (the object and queue APIs) and `url` (ES modules) are
// required when first used.

const net = require('net');
const fs = require('fs');
const path = require('path');

const RUNTIME_API = process.env.AWS_LAMBDA_RUNTIME_API;
const SEP = RUNTIME_API.lastIndexOf(':');
const HOST = RUNTIME_API.slice(0, SEP);
const PORT = Number(RUNTIME_API.slice(SEP + 1));
const PREFIX = '/2018-06-01/runtime';

// Longest response head accepted from the Runtime API.
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

// The end of a chunked body starting at `start` of `buf`: [body, bytes used], or null while
// incomplete.
function chunkedBody(buf, start) {
  const parts = [];
  let at = start;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(buf.toString('latin1', at, lineEnd).split(';')[0], 16);
    if (Number.isNaN(size)) throw new Error('the Runtime API sent a malformed chunk');
    if (buf.length < lineEnd + 2 + size + 2) return null;
    if (size === 0) return [Buffer.concat(parts), lineEnd + 4 - start];
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

// A kept-alive HTTP/1.1 connection to the Runtime API, no read timeout (/next long-polls).
// Requests may be pipelined: responses are matched to them in order. Written on a socket
// rather than with `http`, whose client costs more than the rest of an invocation's hand-over.
class RuntimeApi {
  constructor() {
    this.socket = null;
    // Exchanges sent and not yet answered, oldest first.
    this.waiting = [];
    // Bytes received and not yet parsed (joined only once there may be enough of them:
    // `needed` bytes, when the response's length is known), and the parsed head of the
    // response they begin.
    this.chunks = [];
    this.size = 0;
    this.needed = 0;
    this.head = null;
  }

  // Resolves to {status, headers, body}; `body` is a string or undefined.
  request(method, urlPath, body, headers) {
    return this.send(method, urlPath, body, headers).catch((err) => {
      // A kept-alive connection may have been closed by the server: retry once.
      if (!err.retry) throw err;
      return this.send(method, urlPath, body, headers);
    });
  }

  send(method, urlPath, body, headers) {
    return new Promise((resolve, reject) => {
      const reused = this.socket !== null;
      if (!reused) this.open();
      this.waiting.push({ resolve, reject, reused, answering: false });
      let head = `${method} ${urlPath} HTTP/1.1\r\nHost: ${RUNTIME_API}\r\n`;
      for (const name of Object.keys(headers || {})) head += `${name}: ${headers[name]}\r\n`;
      if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
      else if (method !== 'GET') head += 'Content-Length: 0\r\n';
      this.socket.write(body === undefined ? head + '\r\n' : head + '\r\n' + body);
    });
  }

  open() {
    const socket = net.createConnection({ host: HOST, port: PORT, noDelay: true });
    socket.on('data', (chunk) => this.receive(socket, chunk));
    socket.on('error', (err) => this.drop(socket, err));
    socket.on('close', () => this.drop(socket, null));
    this.socket = socket;
  }

  // Forgets `socket`, failing what still waits on it; an exchange sent on a reused
  // connection and not answered at all may be retried.
  drop(socket, err) {
    if (this.socket !== socket) return;
    socket.destroy();
    this.socket = null;
    const waiting = this.waiting;
    this.waiting = [];
    this.chunks = [];
    this.size = 0;
    this.needed = 0;
    this.head = null;
    for (const exchange of waiting) {
      const error = new Error(err ? err.message : 'the Runtime API closed the connection');
      error.code = err && err.code;
      error.retry = exchange.reused && !exchange.answering;
      exchange.reject(error);
    }
  }

  receive(socket, chunk) {
    if (this.socket !== socket) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < this.needed) return;
    try {
      while (this.waiting.length > 0 && this.size > 0) {
        this.waiting[0].answering = true;
        const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
        this.chunks = [buf];
        const response = this.parse(buf);
        if (!response) return;
        const exchange = this.waiting.shift();
        exchange.resolve(response);
        if ((response.headers.connection || '').toLowerCase() === 'close') {
          this.drop(socket, null);
          return;
        }
      }
    } catch (err) {
      this.drop(socket, err);
    }
  }

  // Takes the first complete response off the received bytes, `buf`; null while more is to
  // come.
  parse(buf) {
    this.needed = 0;
    if (!this.head) {
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) throw new Error('the Runtime API sent too long a head');
        return null;
      }
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers = {};
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(':');
        if (colon > 0) headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
      }
      this.head = { status, headers, start: end + 4 };
    }
    const { status, headers, start } = this.head;
    let body;
    let end;
    if ((headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) {
      const chunked = chunkedBody(buf, start);
      if (!chunked) return null;
      [body, end] = [chunked[0], start + chunked[1]];
    } else {
      end = start + Number(headers['content-length'] || 0);
      if (buf.length < end) {
        this.needed = end;
        return null;
      }
      body = buf.subarray(start, end);
    }
    this.chunks = buf.length > end ? [buf.subarray(end)] : [];
    this.size = buf.length - end;
    this.head = null;
    return { status, headers, body };
  }
}

const runtime = new RuntimeApi();

let http;
let objectsAgent;

// Sluice's loopback APIs (objects, queues) through `http`, loaded on first use.
function request(method, urlPath, body, headers, retried) {
  if (!http) {
    http = require('http');
    objectsAgent = new http.Agent({ keepAlive: true });
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: PORT, method, path: urlPath, agent: objectsAgent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => {
      // A kept-alive socket may have been closed by the server: retry once.
      if (req.reusedSocket && !retried && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        request(method, urlPath, body, headers, true).then(resolve, reject);
      } else {
        reject(err);
      }
    });
    if (body !== undefined && body !== null) req.write(body);
    req.end();
  });
}

class ObjectError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'ObjectError';
    this.code = code;
  }
}

function objectPath(key) {
  return '/sluice/objects/' + String(key).split('/').map(encodeURIComponent).join('/');
}

async function objectCall(method, urlPath, body, extraHeaders) {
  const headers = body === undefined ? {} : { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length };
  Object.assign(headers, extraHeaders || {});
  const res = await request(method, urlPath, body, headers);
  if (res.status >= 200 && res.status < 300) return res;
  let message = res.body.toString('utf8');
  try {
    message = JSON.parse(message).errorMessage || message;
  } catch (_) {
    // keep the raw text
  }
  const codes = { 404: 'NoSuchKey', 400: 'InvalidKey', 416: 'InvalidRange' };
  throw new ObjectError(message || `HTTP ${res.status}`, codes[res.status] || 'ObjectStoreError');
}

// The Range header reading [start, end) as Buffer.subarray does (null for the whole object,
// '' when empty); a negative start reads the last -start bytes.
function rangeHeader(start, end) {
  if (start !== undefined && start !== null && start < 0) {
    if (end !== undefined && end !== null) throw new RangeError('a negative start reads the last bytes: give no end');
    return `bytes=-${-start}`;
  }
  const first = start || 0;
  if (end === undefined || end === null) return first ? `bytes=${first}-` : null;
  if (end < 0) throw new RangeError(`end must be a byte position, not ${end}`);
  return end > first ? `bytes=${first}-${end - 1}` : '';
}

// Sluice's object API: the configured object store, whatever its backend.
const objects = {
  // Resolves to a Buffer: the whole object, or its bytes [start, end) (`{start, end}`, end
  // excluded; start alone reads to the end, a negative start the last -start bytes) by a
  // ranged read. Rejects with code 'NoSuchKey' when the object is missing, 'InvalidRange'
  // when start is at or past its end.
  async get(key, { start, end } = {}) {
    const range = rangeHeader(start, end);
    if (range === '') return Buffer.alloc(0);
    return (await objectCall('GET', objectPath(key), undefined, range ? { Range: range } : {})).body;
  },
  // Resolves to {key, size, etag, lastModified} without reading the object.
  async head(key) {
    const res = await objectCall('HEAD', objectPath(key));
    return {
      key,
      size: Number(res.headers['content-length'] || 0),
      etag: res.headers.etag || null,
      lastModified: res.headers['last-modified'] || null,
    };
  },
  // Stores a Buffer, Uint8Array or string (UTF-8); resolves to {key, size}.
  async put(key, data) {
    const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    return JSON.parse((await objectCall('PUT', objectPath(key), body)).body.toString('utf8'));
  },
  // Resolves to [{key, size}] for keys starting with prefix.
  async list(prefix) {
    const query = new URLSearchParams({ prefix: prefix || '' }).toString();
    return JSON.parse((await objectCall('GET', '/sluice/objects?' + query)).body.toString('utf8'));
  },
};

class QueueError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'QueueError';
    this.code = code;
  }
}

// SQS message attributes from {name: value}: strings, numbers, or SQS's own shape.
function queueAttributes(attributes) {
  const shaped = {};
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== null && typeof value === 'object') shaped[name] = value;
    else if (typeof value === 'number') shaped[name] = { DataType: 'Number', StringValue: String(value) };
    else shaped[name] = { DataType: 'String', StringValue: String(value) };
  }
  return shaped;
}

function queueMessage(body, options) {
  const opts = options || {};
  let text = body;
  if (Buffer.isBuffer(body)) text = body.toString('utf8');
  else if (typeof body !== 'string') text = JSON.stringify(body);
  return { body: text, delaySeconds: opts.delaySeconds || 0, messageAttributes: queueAttributes(opts.attributes) };
}

async function queueSend(queue, messages) {
  const body = Buffer.from(JSON.stringify({ messages }), 'utf8');
  const headers = { 'Content-Type': 'application/json', 'Content-Length': body.length };
  const urlPath = '/sluice/queues/' + encodeURIComponent(queue) + '/messages';
  const res = await request('POST', urlPath, body, headers);
  const text = res.body.toString('utf8');
  if (res.status >= 300) {
    let failure = { errorMessage: text, errorType: 'QueueError' };
    try {
      failure = JSON.parse(text);
    } catch (_) {
      // keep the raw text
    }
    throw new QueueError(`${failure.errorMessage} (HTTP ${res.status})`, failure.errorType);
  }
  return JSON.parse(text).messages.map((m) => m.messageId);
}

// Sluice's durable queues: a send resolves once the messages are durable.
const queues = {
  // Sends one message (a string, Buffer or anything JSON.stringify takes), with optional
  // {delaySeconds, attributes}; resolves to its id.
  async send(queue, body, options) {
    return (await queueSend(queue, [queueMessage(body, options)]))[0];
  },
  // Sends up to 100 messages in one write: [{body, delaySeconds, attributes}]; resolves to
  // their ids in order.
  async sendBatch(queue, messages) {
    return queueSend(queue, messages.map((m) => queueMessage(m.body, m)));
  },
};

class Fault extends Error {
  constructor(errorType, message) {
    super(message);
    this.errorType = errorType;
  }
}

function errorBody(err) {
  if (err instanceof Fault) {
    return { errorType: err.errorType, errorMessage: err.message, trace: [] };
  }
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      errorMessage: err.message,
      trace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
    };
  }
  let message;
  try {
    message = typeof err === 'string' ? err : JSON.stringify(err);
  } catch (_) {
    message = String(err);
  }
  return { errorType: typeof err, errorMessage: String(message), trace: [] };
}

function logError(body) {
  const lines = [`ERROR\t${JSON.stringify(body)}`];
  process.stderr.write(lines.join('\n') + '\n');
}

function postError(urlPath, body, errorType) {
  return runtime.request('POST', urlPath, JSON.stringify(body), {
    'Content-Type': 'application/vnd.aws.lambda.error+json',
    'Lambda-Runtime-Function-Error-Type': errorType,
  });
}

function splitHandler(handler) {
  const slash = handler.lastIndexOf('/');
  const dot = handler.indexOf('.', slash + 1);
  if (dot < 0) throw new Fault('Runtime.MalformedHandlerName', `Bad handler ${handler}`);
  return [handler.slice(0, dot), handler.slice(dot + 1)];
}

function importFile(file) {
  const { pathToFileURL } = require('url');
  return import(pathToFileURL(file).href);
}

async function loadModule(modulePath) {
  for (const ext of ['.mjs', '.cjs']) {
    if (fs.existsSync(modulePath + ext)) {
      return ext === '.mjs' ? importFile(modulePath + ext) : require(modulePath + ext);
    }
  }
  try {
    return require(modulePath);
  } catch (err) {
    if (err && err.code === 'ERR_REQUIRE_ESM') {
      return importFile(require.resolve(modulePath));
    }
    throw err;
  }
}

async function loadHandler(handler, taskRoot) {
  const [moduleName, exportPath] = splitHandler(handler);
  let mod;
  try {
    mod = await loadModule(path.resolve(taskRoot, moduleName));
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND') {
      throw new Fault('Runtime.ImportModuleError', `Error: ${err.message}`);
    }
    if (err instanceof SyntaxError) {
      throw new Fault('Runtime.UserCodeSyntaxError', `${err.name}: ${err.message}`);
    }
    throw err;
  }
  const lookup = (root) => exportPath.split('.').reduce((o, k) => (o == null ? undefined : o[k]), root);
  let fn = lookup(mod);
  if (typeof fn !== 'function' && mod && mod.default) fn = lookup(mod.default);
  if (typeof fn !== 'function') {
    throw new Fault('Runtime.HandlerNotFound', `${handler} is undefined or not exported`);
  }
  return fn;
}

function parseJsonHeader(value) {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch (_) {
    return undefined;
  }
}

function makeContext(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  const clientContext = parseJsonHeader(headers['lambda-runtime-client-context']);
  const custom = (clientContext && clientContext.custom) || {};
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity']),
    clientContext,
    execution: custom.execution,
    idempotencyKey: custom.idempotency_key,
    objects,
    queues,
    getRemainingTimeInMillis() {
      return Math.max(0, deadline - Date.now());
    },
  };
}

function callHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (err) => callback(err || new Error('handler failed'));
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (err) {
      callback(err);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((r) => callback(null, r), (e) => callback(e === undefined ? new Error('rejected') : e));
    } else if (handler.length < 3) {
      callback(null, returned);
    }
  });
}

// Runs one invocation; resolves once its result is sent, to {reply, what}: the promise of
// the Runtime API's answer and what was sent.
async function handleOne(handler, res) {
  const headers = res.headers;
  const requestId = headers['lambda-runtime-aws-request-id'];
  const base = `${PREFIX}/invocation/${encodeURIComponent(requestId)}`;
  if (headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  else delete process.env._X_AMZN_TRACE_ID;

  const fail = (body) => {
    logError(body);
    return { reply: postError(`${base}/error`, body, 'Unhandled'), what: 'error report' };
  };

  let event;
  try {
    event = res.body.length ? JSON.parse(res.body.toString('utf8')) : null;
  } catch (err) {
    return fail(errorBody(new Fault('Runtime.UnmarshalError', `Unable to unmarshal input: ${err.message}`)));
  }
  let result;
  try {
    result = await callHandler(handler, event, makeContext(headers));
  } catch (err) {
    return fail(errorBody(err));
  }
  let payload;
  try {
    payload = JSON.stringify(result === undefined ? null : result);
  } catch (err) {
    return fail(errorBody(new Fault('Runtime.MarshalError', `Unable to stringify response body: ${err.message}`)));
  }
  const reply = runtime.request('POST', `${base}/response`, payload, { 'Content-Type': 'application/json' });
  return { reply, what: 'response' };
}

async function main() {
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER || '', taskRoot);
  } catch (err) {
    const body = errorBody(err);
    logError(body);
    await postError(`${PREFIX}/init/error`, body, body.errorType);
    process.exit(1);
  }
  const nextInvocation = () => {
    const next = runtime.request('GET', `${PREFIX}/invocation/next`);
    next.catch(() => {}); // awaited below, after the previous answer
    return next;
  };
  let next = nextInvocation();
  for (;;) {
    const res = await next;
    if (res.status !== 200) process.exit(res.status === 500 ? 0 : 1);
    const { reply, what } = await handleOne(handler, res);
    // Asking for the next event right behind the result saves it a round trip.
    next = nextInvocation();
    const r = await reply;
    if (r.status !== 202) process.stderr.write(`${what} rejected (HTTP ${r.status}): ${r.body}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`runtime failure: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
