//! The warm pool: per function, up to `concurrency` instances started on demand,
//! one invocation at a time each, idle ones reused and reaped after `idle_timeout`,
//! callers queued first-come first-served while all are busy.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use axum::body::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bootstrap::Bootstraps;
use crate::config::{FunctionConfig, InvokeMeta, PoolOptions, Runtime};
use crate::error::{InvokeError, PoolError, error_names};
use crate::instance::{Call, FunctionSpec, Instance};
use crate::logs::{LogLine, LogSink};
use crate::spare::{SpareSlot, node_handler_file};

/// Locks a mutex, ignoring poisoning (the protected state stays consistent).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counters of one function's pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionStats {
    /// Function name.
    pub name: String,
    /// Instances running or starting.
    pub instances: usize,
    /// Instances handling (or starting for) an invocation.
    pub busy: usize,
    /// Warm instances waiting for work.
    pub idle: usize,
    /// Callers waiting for an instance.
    pub waiting: usize,
    /// Invocations dispatched so far.
    pub invocations: u64,
    /// Instances started so far.
    pub cold_starts: u64,
    /// Invocations that failed (the handler's error, a timeout, a crash).
    pub errors: u64,
    /// Median duration of the recent invocations, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile duration of the recent invocations, ms.
    pub p99_ms: Option<f64>,
}

/// Warm pools of worker processes for a set of functions. Cheap to clone.
#[derive(Clone)]
pub struct FunctionPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    slots: HashMap<String, Arc<Slot>>,
    order: Vec<String>,
    sink: Arc<LogSink>,
    options: PoolOptions,
    next_instance: AtomicU64,
    closed: AtomicBool,
    reaper: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        if let Some(reaper) = lock(&self.reaper).take() {
            reaper.abort();
        }
    }
}

/// The pool of one function.
struct Slot {
    spec: Arc<FunctionSpec>,
    state: Mutex<SlotState>,
    /// The instance started ahead of demand, for runtimes without a zygote.
    spare: Option<SpareSlot>,
}

#[derive(Default)]
struct SlotState {
    /// Warm instances, most recently used last, with the time they became idle.
    idle: Vec<(Arc<Instance>, Instant)>,
    /// Every started instance not yet discarded.
    live: HashMap<u64, Arc<Instance>>,
    /// Granted cold starts whose instance is not live yet.
    starting: usize,
    /// Outstanding leases.
    busy: usize,
    waiters: VecDeque<oneshot::Sender<Lease>>,
    invocations: u64,
    cold_starts: u64,
    errors: u64,
    latencies: crate::latency::Latencies,
    closed: bool,
}

/// The right to run one invocation: either on a warm instance or by starting one.
enum Grant {
    Warm(Arc<Instance>),
    Cold,
}

/// A granted slot; dropping it gives the slot back (killing the instance if an
/// invocation was running on it).
struct Lease {
    slot: Arc<Slot>,
    grant: Option<Grant>,
    in_use: bool,
}

impl Lease {
    fn instance(&self) -> Option<Arc<Instance>> {
        match &self.grant {
            Some(Grant::Warm(instance)) => Some(instance.clone()),
            _ => None,
        }
    }

    fn finish(mut self, reusable: bool) {
        if let Some(grant) = self.grant.take() {
            self.slot.release(grant, reusable);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(grant) = self.grant.take() {
            self.slot.release(grant, !self.in_use);
        }
    }
}

impl Slot {
    fn shut_down_error() -> InvokeError {
        InvokeError::service("the function pool is shut down")
    }

    /// Waits for a warm instance or the right to start one.
    async fn acquire(self: &Arc<Self>) -> Result<Lease, InvokeError> {
        let mut discarded = Vec::new();
        let waiter = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(Self::shut_down_error());
            }
            let mut granted = None;
            while let Some((instance, _)) = st.idle.pop() {
                if instance.is_alive() {
                    granted = Some(Grant::Warm(instance));
                    break;
                }
                st.live.remove(&instance.id);
                discarded.push(instance);
            }
            if granted.is_none() && st.live.len() + st.starting < self.spec.config.concurrency {
                st.starting += 1;
                granted = Some(Grant::Cold);
            }
            match granted {
                Some(grant) => {
                    st.busy += 1;
                    Ok(self.lease(grant))
                }
                None => {
                    let (tx, rx) = oneshot::channel();
                    st.waiters.push_back(tx);
                    Err(rx)
                }
            }
        };
        drop(discarded);
        match waiter {
            Ok(lease) => Ok(lease),
            Err(rx) => rx.await.map_err(|_| Self::shut_down_error()),
        }
    }

    fn lease(self: &Arc<Self>, grant: Grant) -> Lease {
        Lease {
            slot: self.clone(),
            grant: Some(grant),
            in_use: false,
        }
    }

    /// Gives `grant` to the first waiter still waiting; returns it when there is none.
    fn hand_over(self: &Arc<Self>, st: &mut SlotState, mut grant: Grant) -> Option<Grant> {
        while let Some(waiter) = st.waiters.pop_front() {
            st.busy += 1;
            match waiter.send(self.lease(grant)) {
                Ok(()) => return None,
                Err(mut lease) => {
                    st.busy -= 1;
                    grant = lease.grant.take().expect("lease returned unused");
                }
            }
        }
        Some(grant)
    }

    /// Takes back a lease's grant; `reusable` tells whether its instance may serve again.
    fn release(self: &Arc<Self>, grant: Grant, reusable: bool) {
        let mut doomed = None;
        {
            let mut st = lock(&self.state);
            st.busy -= 1;
            let freed = match grant {
                Grant::Warm(instance) if reusable && !st.closed && instance.is_alive() => {
                    if let Some(Grant::Warm(instance)) =
                        self.hand_over(&mut st, Grant::Warm(instance))
                    {
                        st.idle.push((instance, Instant::now()));
                    }
                    false
                }
                Grant::Warm(instance) => {
                    st.live.remove(&instance.id);
                    doomed = Some(instance);
                    true
                }
                Grant::Cold => {
                    st.starting -= 1;
                    true
                }
            };
            if freed && !st.closed && !st.waiters.is_empty() {
                st.starting += 1;
                if self.hand_over(&mut st, Grant::Cold).is_some() {
                    st.starting -= 1;
                }
            }
        }
        if let Some(instance) = doomed {
            instance.kill();
        }
    }

    /// Registers a freshly started instance under a cold lease.
    fn install(&self, lease: &mut Lease, instance: Arc<Instance>) -> Result<(), InvokeError> {
        let mut st = lock(&self.state);
        if st.closed {
            drop(st);
            instance.kill();
            return Err(Self::shut_down_error());
        }
        st.starting -= 1;
        st.cold_starts += 1;
        st.live.insert(instance.id, instance.clone());
        lease.grant = Some(Grant::Warm(instance));
        Ok(())
    }

    /// Removes instances idle for longer than the idle timeout, or dead.
    fn reap(&self) {
        let expired: Vec<Arc<Instance>> = {
            let mut st = lock(&self.state);
            let idle_timeout = self.spec.config.idle_timeout;
            let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut st.idle)
                .into_iter()
                .partition(|(instance, since)| {
                    instance.is_alive() && since.elapsed() < idle_timeout
                });
            st.idle = keep;
            for (instance, _) in &gone {
                st.live.remove(&instance.id);
            }
            gone.into_iter().map(|(instance, _)| instance).collect()
        };
        for instance in expired {
            tracing::debug!(function = %self.spec.config.name, pid = instance.pid, "reaping idle instance");
            instance.kill();
        }
    }

    fn stats(&self) -> FunctionStats {
        let st = lock(&self.state);
        FunctionStats {
            name: self.spec.config.name.clone(),
            instances: st.live.len() + st.starting,
            busy: st.busy,
            idle: st.idle.len(),
            waiting: st.waiters.iter().filter(|w| !w.is_closed()).count(),
            invocations: st.invocations,
            cold_starts: st.cold_starts,
            errors: st.errors,
            p50_ms: st.latencies.percentile_ms(50.0),
            p99_ms: st.latencies.percentile_ms(99.0),
        }
    }
}

impl FunctionPool {
    /// Validates the functions, installs the bootstraps, starts the idle reaper and, in
    /// the background, the zygotes of the functions that fork their instances. No instance
    /// is started until the first invocation.
    pub async fn start(
        functions: Vec<FunctionConfig>,
        options: PoolOptions,
    ) -> Result<FunctionPool, PoolError> {
        let bootstraps =
            Bootstraps::install(&options.cache_dir).map_err(PoolError::io(format!(
                "cannot write the bootstraps under {}",
                options.cache_dir.display()
            )))?;
        let sink = LogSink::new(
            options.log_dir.clone(),
            options.log_capacity,
            options.log_limits,
        )
        .map_err(PoolError::io("cannot prepare the log directory"))?;
        let mut slots = HashMap::new();
        let mut order = Vec::new();
        for config in functions {
            let name = config.name.clone();
            if slots.contains_key(&name) {
                return Err(PoolError::InvalidConfig {
                    function: name,
                    message: "defined twice".into(),
                });
            }
            let spec = FunctionSpec::new(config, &options, &bootstraps)?;
            let spare = (spec.config.runtime == Runtime::Node)
                .then(|| SpareSlot::new(node_handler_file(spec.code_dir(), &spec.config.handler)));
            order.push(name.clone());
            slots.insert(
                name,
                Arc::new(Slot {
                    spec: Arc::new(spec),
                    state: Mutex::new(SlotState::default()),
                    spare,
                }),
            );
        }
        let tick = slots
            .values()
            .map(|s| s.spec.config.idle_timeout / 4)
            .min()
            .unwrap_or(Duration::from_secs(1))
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let inner = Arc::new(PoolInner {
            slots,
            order,
            sink: Arc::new(sink),
            options,
            next_instance: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            reaper: Mutex::new(None),
        });
        for slot in inner.slots.values() {
            tokio::spawn(slot.spec.clone().prestart(inner.sink.clone()));
            refill_spare(&inner, slot);
        }
        let reaper = tokio::spawn(reap_loop(Arc::downgrade(&inner), tick));
        *lock(&inner.reaper) = Some(reaper);
        Ok(FunctionPool { inner })
    }

    /// Invokes `function` with `payload`, starting an instance if none is free and the
    /// function is below its concurrency, otherwise waiting for one to free up. The result is
    /// the function's response parsed as JSON (an empty response is `null`).
    pub async fn invoke(
        &self,
        function: &str,
        payload: Value,
        mut meta: InvokeMeta,
    ) -> Result<Value, InvokeError> {
        let request_id = meta
            .request_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone();
        let body = self
            .invoke_raw(function, Event::Value(payload), meta)
            .await?;
        parse_response(&request_id, &body)
    }

    /// Like [`FunctionPool::invoke`], but returns the response body as the function posted
    /// it (at most its `max_response_bytes`), for callers that check it before parsing. An
    /// event over the function's `max_request_bytes` fails as Lambda fails it,
    /// `Lambda.RequestEntityTooLargeException`, without being serialised past the limit.
    pub async fn invoke_raw(
        &self,
        function: &str,
        event: Event,
        meta: InvokeMeta,
    ) -> Result<Vec<u8>, InvokeError> {
        let slot =
            self.inner.slots.get(function).cloned().ok_or_else(|| {
                InvokeError::not_found(&self.inner.options.function_arn(function))
            })?;
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Slot::shut_down_error());
        }
        let payload = event.body(slot.spec.config.max_request_bytes)?;
        let request_id = meta
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

        let mut lease = slot.acquire().await?;
        let warm = lease.instance();
        let cold = warm.is_none();
        let instance = match warm {
            Some(instance) => instance,
            None => {
                let spare = match &slot.spare {
                    Some(spare) => spare.take().await,
                    None => None,
                };
                let instance = match spare {
                    Some(instance) => instance,
                    None => start_instance(&self.inner, &slot, &request_id).await?,
                };
                let instance = Arc::new(instance);
                slot.install(&mut lease, instance.clone())?;
                instance
            }
        };
        lease.in_use = true;
        lock(&slot.state).invocations += 1;
        let call = Call {
            request_id,
            payload,
            trace_id: meta.trace_id.clone().unwrap_or_else(new_trace_id),
            client_context: client_context(&meta),
        };
        let started = std::time::Instant::now();
        let (result, reusable) = instance.invoke(call).await;
        {
            let mut st = lock(&slot.state);
            st.latencies.record(started.elapsed());
            st.errors += u64::from(result.is_err());
        }
        lease.finish(reusable);
        if cold && reusable && !self.inner.closed.load(Ordering::SeqCst) {
            refill_spare(&self.inner, &slot);
        }
        result.map(Vec::from)
    }

    /// Counters of every function, in configuration order.
    pub fn stats(&self) -> Vec<FunctionStats> {
        self.inner
            .order
            .iter()
            .filter_map(|name| self.inner.slots.get(name))
            .map(|slot| slot.stats())
            .collect()
    }

    /// Process ids of the running instances of `function`, in no particular order.
    pub fn pids(&self, function: &str) -> Vec<u32> {
        self.inner
            .slots
            .get(function)
            .map(|slot| lock(&slot.state).live.values().map(|i| i.pid).collect())
            .unwrap_or_default()
    }

    /// Captured output of `function` still held in memory (its most recent lines), oldest
    /// first.
    pub fn logs(&self, function: &str) -> Vec<LogLine> {
        self.inner.sink.lines(function)
    }

    /// The end of the output attributed to one request (its last [`TAIL_BYTES`](crate::TAIL_BYTES),
    /// as Lambda's `LogType: Tail`), oldest first; kept for the most recent requests only.
    pub fn logs_for_request(&self, request_id: &str) -> Vec<LogLine> {
        self.inner.sink.for_request(request_id)
    }

    /// Waits until every captured line is written to the log files.
    pub async fn flush_logs(&self) {
        self.inner.sink.flush().await;
    }

    /// Kills every instance, fails waiting callers and flushes the logs. Invocations
    /// still running fail; later calls fail with `Lambda.ServiceException`.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        if let Some(reaper) = lock(&self.inner.reaper).take() {
            reaper.abort();
        }
        let mut instances = Vec::new();
        for slot in self.inner.slots.values() {
            let mut st = lock(&slot.state);
            st.closed = true;
            st.idle.clear();
            st.waiters.clear();
            instances.extend(st.live.drain().map(|(_, instance)| instance));
        }
        for instance in &instances {
            instance.kill();
        }
        for instance in &instances {
            instance.wait_exit(Duration::from_secs(5)).await;
        }
        for slot in self.inner.slots.values() {
            slot.spec.release_zygote().await;
            if let Some(spare) = &slot.spare {
                spare.stop().await;
            }
        }
        self.inner.sink.flush().await;
    }
}

/// Starts a new instance of `slot`'s function for the invocation `request_id`.
fn start_instance(
    pool: &PoolInner,
    slot: &Slot,
    request_id: &str,
) -> impl std::future::Future<Output = Result<Instance, InvokeError>> + Send + 'static {
    let id = pool.next_instance.fetch_add(1, Ordering::Relaxed);
    let spec = slot.spec.clone();
    let sink = pool.sink.clone();
    let objects = pool.options.objects.clone();
    let queues = pool.options.queues.clone();
    let request_id = request_id.to_string();
    async move { Instance::start(id, spec, sink, objects, queues, &request_id).await }
}

/// Starts `slot`'s next spare instance in the background, when its runtime keeps one and
/// it has none.
fn refill_spare(pool: &PoolInner, slot: &Slot) {
    if let Some(spare) = &slot.spare {
        spare.refill(start_instance(pool, slot, "spare"));
    }
}

/// Parses a function's response body: JSON, or `null` when it is empty.
pub(crate) fn parse_response(request_id: &str, body: &[u8]) -> Result<Value, InvokeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        InvokeError::new(
            error_names::INVALID_RESPONSE,
            format!("RequestId: {request_id} Error: the response is not valid JSON: {e}"),
        )
    })
}

/// Serialises an event, failing as Lambda does when it is over `limit` bytes; no more than
/// `limit` bytes are ever produced.
/// An invocation's event: a JSON value, or JSON text already written (sent as it is).
pub enum Event {
    /// A value, serialised for the call.
    Value(Value),
    /// JSON text.
    Text(Vec<u8>),
}

impl Event {
    /// The request body, refused past `limit` bytes.
    fn body(self, limit: usize) -> Result<Bytes, InvokeError> {
        match self {
            Event::Value(value) => request_body(&value, limit),
            Event::Text(text) if text.len() > limit => Err(InvokeError::request_too_large(limit)),
            Event::Text(text) => Ok(Bytes::from(text)),
        }
    }
}

fn request_body(payload: &Value, limit: usize) -> Result<Bytes, InvokeError> {
    let mut body = Capped {
        bytes: Vec::new(),
        limit,
    };
    match serde_json::to_writer(&mut body, payload) {
        Ok(()) => Ok(Bytes::from(body.bytes)),
        Err(e) if e.is_io() => Err(InvokeError::request_too_large(limit)),
        Err(e) => Err(InvokeError::service(format!(
            "cannot serialise the payload: {e}"
        ))),
    }
}

/// A buffer refusing writes past `limit` bytes.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + data.len() > self.limit {
            return Err(std::io::Error::other("over the request limit"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn reap_loop(pool: Weak<PoolInner>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(pool) = pool.upgrade() else { return };
        if pool.closed.load(Ordering::SeqCst) {
            return;
        }
        for slot in pool.slots.values() {
            slot.reap();
        }
    }
}

/// An X-Ray style trace header.
fn new_trace_id() -> String {
    let secs = chrono::Utc::now().timestamp();
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &a[..24],
        &b[..16]
    )
}

/// The `Lambda-Runtime-Client-Context` JSON carrying Sluice's extras, ASCII only so
/// that it is a valid header value.
fn client_context(meta: &InvokeMeta) -> Option<String> {
    if meta.execution.is_none() && meta.idempotency_key.is_none() {
        return None;
    }
    let mut custom = serde_json::Map::new();
    if let Some(execution) = &meta.execution {
        custom.insert("execution".into(), Value::String(execution.clone()));
    }
    if let Some(key) = &meta.idempotency_key {
        custom.insert("idempotency_key".into(), Value::String(key.clone()));
    }
    let json = serde_json::json!({ "custom": custom }).to_string();
    let mut ascii = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    Some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_context_is_ascii_json() {
        let meta = InvokeMeta {
            execution: Some("exé-1".into()),
            idempotency_key: Some("k".into()),
            ..InvokeMeta::default()
        };
        let cc = client_context(&meta).unwrap();
        assert!(cc.is_ascii());
        let v: Value = serde_json::from_str(&cc).unwrap();
        assert_eq!(v["custom"]["execution"], "exé-1");
        assert_eq!(client_context(&InvokeMeta::default()), None);
    }

    #[test]
    fn events_are_serialised_within_the_limit_only() {
        let event = serde_json::json!({"data": "x".repeat(100)});
        let size = serde_json::to_vec(&event).unwrap().len();
        assert_eq!(request_body(&event, size).unwrap().len(), size);
        let e = request_body(&event, size - 1).unwrap_err();
        assert_eq!(e.error, error_names::REQUEST_TOO_LARGE);
        assert_eq!(
            e.cause,
            format!(
                "Request must be smaller than {} bytes for the InvokeFunction operation",
                size - 1
            )
        );
    }

    #[test]
    fn trace_ids_look_like_xray() {
        let t = new_trace_id();
        assert!(t.starts_with("Root=1-") && t.contains(";Parent=") && t.ends_with(";Sampled=0"));
    }
}
