// What happened to each state, derived from an execution's history events as they come: its
// status (none, running, succeeded, failed, caught, retried), input, output, error and cause,
// retries, times and the calls it made. Events name the state they enter and exit; the events
// in between (a Task's calls, a failure) belong to the state entered last and not yet left.
// A failure followed by another call is a retry; a state left (or followed by another state)
// after a failure that was not retried was caught.

/** The statuses a state can show, in legend order. */
export const STATUSES = ['none', 'running', 'succeeded', 'failed', 'caught', 'retried'];

const ENDS = new Set(['ExecutionFailed', 'ExecutionTimedOut', 'ExecutionAborted']);

/** The function a Task's `resource` (and its `parameters`) calls, if it names one. */
export function functionOf(resource, parameters) {
  if (!resource) return null;
  if (resource.startsWith('arn:aws:states:::lambda:invoke')) {
    const name = parameters && (parameters.FunctionName || parameters['FunctionName']);
    return typeof name === 'string' ? name.split(':').pop() : null;
  }
  let m = resource.match(/^sluice:function:([^:/]+)/) || resource.match(/:function:([^:/]+)/)
    || resource.match(/functions\/([^/]+)/);
  return m ? m[1] : null;
}

/** The states of one execution, fed its history in order. */
export class Tracker {
  constructor() {
    this.states = new Map();
    this.open = [];
    this.lastFailed = null;
    this.lastId = 0;
  }

  /** The record of the state `name`, created when first seen. */
  state(name) {
    let s = this.states.get(name);
    if (!s) {
      s = { name, status: 'none', entries: 0, exits: 0, retries: 0, calls: [], failedPending: false };
      this.states.set(name, s);
    }
    return s;
  }

  /** The status of `name` (`none` when it was not reached). */
  status(name) {
    return this.states.get(name)?.status ?? 'none';
  }

  /** Takes the next events (ids above the last seen). */
  add(events) {
    for (const e of events) {
      if (e.id <= this.lastId) continue;
      this.lastId = e.id;
      this.apply(e.kind, e.details || {}, e.timestamp_ms);
    }
  }

  apply(kind, d, ms) {
    const current = this.open[this.open.length - 1];
    if (kind.endsWith('StateEntered')) {
      const failed = this.lastFailed;
      if (failed && failed.name !== d.name && failed.status === 'failed' && this.open.includes(failed)) {
        failed.status = 'caught';
        this.open.splice(this.open.lastIndexOf(failed), 1);
      }
      const s = this.state(d.name);
      s.status = 'running';
      s.input = d.input;
      s.entries += 1;
      s.enteredMs ??= ms;
      this.open.push(s);
    } else if (kind.endsWith('StateExited')) {
      const s = this.state(d.name);
      s.output = d.output;
      s.exits += 1;
      s.exitedMs = ms;
      // Left after a failure nothing retried: a catcher took it.
      if (s.failedPending) s.status = 'caught';
      else if (s.exits >= s.entries && s.status !== 'caught') s.status = s.retries > 0 ? 'retried' : 'succeeded';
      s.failedPending = false;
      const at = this.open.lastIndexOf(s);
      if (at >= 0) this.open.splice(at, 1);
    } else if (kind === 'TaskScheduled' || kind === 'LambdaFunctionScheduled') {
      if (!current) return;
      if (current.failedPending) {
        current.retries += 1;
        current.failedPending = false;
      }
      current.status = 'running';
      current.calls.push({ resource: d.resource, parameters: d.parameters, ms, function: functionOf(d.resource, d.parameters) });
    } else if (ENDS.has(kind)) {
      for (const s of this.open) {
        s.status = 'failed';
        s.error ??= d.error;
        s.cause ??= d.cause;
        s.exitedMs = ms;
      }
      this.open = [];
    } else if (/(Failed|TimedOut)$/.test(kind) && !kind.startsWith('MapIteration') && current) {
      current.status = 'failed';
      current.error = d.error;
      current.cause = d.cause;
      current.failedPending = true;
      current.exitedMs = ms;
      this.lastFailed = current;
    }
  }
}
