//! `sluice invoke`: calls one function of a project directly (on a warm pool, or over HTTP for
//! an `http:` function), once or many times in sequence, and reports latencies measured around
//! each call (process start-up excluded).

use crate::project;
use crate::run::{data_dir_for, read_input};
use serde_json::{Value, json};
use sluice_engine::invoke::NoFunctions;
use sluice_engine::payload::PayloadLimit;
use sluice_functions::{DEFAULT_MAX_REQUEST_BYTES, InvokeError, InvokeMeta};
use sluice_io::http::HttpInvoker;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lambda's limit on the event of a synchronous invocation.
const EVENT_LIMIT: PayloadLimit = PayloadLimit {
    bytes: DEFAULT_MAX_REQUEST_BYTES,
    what: "the event",
    service: "Lambda",
};

/// Arguments of `sluice invoke`.
#[derive(clap::Args)]
pub struct InvokeArgs {
    /// The project directory with `sluice.yaml`.
    pub project: PathBuf,
    /// The function to call, as declared under `functions:`.
    pub function: String,
    /// The event (JSON text, or `@path` to read it from a file). Default `{}`.
    #[arg(long)]
    pub input: Option<String>,
    /// Call the function this many times in sequence and print latency statistics: the first
    /// call starts an instance (cold start), the others reuse the warm pool.
    #[arg(long)]
    pub repeat: Option<usize>,
    /// How many warm calls after the first to leave out of the statistics.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Print one JSON line `{function, output, error, cause, stats}` instead of the output.
    #[arg(long)]
    pub json: bool,
}

/// Latencies of a sequence of calls, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latencies {
    /// Calls made, including the cold one and the warm-up.
    pub calls: usize,
    /// The first call: instance start, bootstrap and first response.
    pub cold_start_us: f64,
    /// Warm calls the percentiles are computed over.
    pub warm_calls: usize,
    /// Median warm call.
    pub p50_us: Option<f64>,
    /// 90th percentile warm call.
    pub p90_us: Option<f64>,
    /// 99th percentile warm call.
    pub p99_us: Option<f64>,
    /// Slowest warm call.
    pub max_us: Option<f64>,
    /// Mean warm call.
    pub mean_us: Option<f64>,
}

impl Latencies {
    /// Statistics of `times` (in call order): the first is the cold start, the next `warmup`
    /// are left out, the rest are the warm calls.
    pub fn of(times: &[Duration], warmup: usize) -> Latencies {
        let us = |d: &Duration| d.as_secs_f64() * 1e6;
        let mut warm: Vec<f64> = times.iter().skip(1 + warmup).map(us).collect();
        warm.sort_by(f64::total_cmp);
        let mean = (!warm.is_empty()).then(|| warm.iter().sum::<f64>() / warm.len() as f64);
        Latencies {
            calls: times.len(),
            cold_start_us: times.first().map(us).unwrap_or(0.0),
            warm_calls: warm.len(),
            p50_us: percentile(&warm, 50.0),
            p90_us: percentile(&warm, 90.0),
            p99_us: percentile(&warm, 99.0),
            max_us: warm.last().copied(),
            mean_us: mean,
        }
    }

    /// The statistics as a JSON object, microseconds rounded to 0.1.
    pub fn to_json(&self, function: &str) -> Value {
        let round = |x: f64| (x * 10.0).round() / 10.0;
        let opt = |x: Option<f64>| x.map(round);
        json!({
            "function": function,
            "calls": self.calls,
            "cold_start_us": round(self.cold_start_us),
            "warm_calls": self.warm_calls,
            "p50_us": opt(self.p50_us),
            "p90_us": opt(self.p90_us),
            "p99_us": opt(self.p99_us),
            "max_us": opt(self.max_us),
            "mean_us": opt(self.mean_us),
        })
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Makes `count` calls in sequence with the same event; stops at the first error. Returns the
/// time of each call and the result of the last one.
async fn call_repeatedly<F, Fut>(
    event: &Value,
    count: usize,
    call: F,
) -> (Vec<Duration>, Result<Value, InvokeError>)
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, InvokeError>>,
{
    let mut times = Vec::with_capacity(count);
    let mut last = Ok(Value::Null);
    for _ in 0..count {
        let payload = event.clone();
        let started = Instant::now();
        last = call(payload).await;
        times.push(started.elapsed());
        if last.is_err() {
            break;
        }
    }
    (times, last)
}

/// Invokes one function of a project and prints its result, with `--repeat` latency statistics.
pub fn invoke(data_dir: Option<&Path>, args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let project = match project::load(&args.project) {
        Ok(p) => p,
        Err(diagnostics) => {
            crate::validate::print_diagnostics(&diagnostics);
            return Ok(ExitCode::from(2));
        }
    };
    if project.builtins.iter().any(|f| f.name == args.function) {
        anyhow::bail!(
            "'{}' is a built-in function: call it from a flow's Task (invoke runs process functions)",
            args.function
        );
    }
    let is_http = project
        .http
        .functions
        .iter()
        .any(|f| f.name == args.function);
    if !is_http && !project.functions.iter().any(|f| f.name == args.function) {
        let declared: Vec<&str> = project
            .function_names()
            .into_iter()
            .filter(|name| !project.builtins.iter().any(|b| b.name == *name))
            .collect();
        anyhow::bail!(
            "the project declares no function '{}' (declared: {})",
            args.function,
            declared.join(", ")
        );
    }
    let event = read_input(args.input.as_deref(), &EVENT_LIMIT)?;
    let count = args.repeat.unwrap_or(1).max(1);
    let data_dir = data_dir_for(data_dir, Some(&args.project));
    let runtime = crate::app::runtime()?;
    let (times, result) = if is_http {
        let http = HttpInvoker::new(project.http.clone(), Arc::new(NoFunctions))
            .map_err(anyhow::Error::msg)?;
        let call = |payload| {
            let http = http.clone();
            let name = args.function.clone();
            async move {
                http.call_function(&name, payload)
                    .await
                    .map_err(|e| InvokeError::new(e.error, e.cause))
            }
        };
        runtime.block_on(call_repeatedly(&event, count, call))
    } else {
        let pool = crate::app::start_pool(&runtime, &data_dir, &project)?;
        let call = |payload| pool.invoke(&args.function, payload, InvokeMeta::default());
        let calls = runtime.block_on(call_repeatedly(&event, count, call));
        runtime.block_on(pool.shutdown());
        calls
    };
    let stats = args
        .repeat
        .map(|_| Latencies::of(&times, args.warmup).to_json(&args.function));
    let (output, error) = match result {
        Ok(output) => (Some(output), None),
        Err(e) => (None, Some(e)),
    };
    if args.json {
        let mut line = json!({
            "function": args.function,
            "output": output,
            "error": error.as_ref().map(|e| &e.error),
            "cause": error.as_ref().map(|e| &e.cause),
        });
        if let Some(stats) = &stats {
            line["stats"] = stats.clone();
        }
        outln!("{line}");
    } else {
        match (&output, &error) {
            (Some(output), _) => {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(output).unwrap_or_default()
                );
            }
            (None, Some(e)) => {
                outln!("error: {}", e.error);
                outln!("cause: {}", e.cause);
            }
            (None, None) => {}
        }
        if let Some(stats) = &stats {
            eprintln!("{stats}");
        }
    }
    Ok(if error.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_leave_out_the_cold_call_and_the_warm_up() {
        let ms = |n: u64| Duration::from_millis(n);
        let mut times = vec![ms(500), ms(90), ms(80)];
        times.extend((1..=100).map(|n| Duration::from_micros(n * 10)));
        let l = Latencies::of(&times, 2);
        assert_eq!(l.calls, 103);
        assert_eq!(l.cold_start_us, 500_000.0);
        assert_eq!(l.warm_calls, 100);
        assert_eq!(l.p50_us, Some(500.0));
        assert_eq!(l.p90_us, Some(900.0));
        assert_eq!(l.p99_us, Some(990.0));
        assert_eq!(l.max_us, Some(1000.0));
        assert_eq!(l.mean_us, Some(505.0));
    }

    #[test]
    fn a_single_call_has_no_warm_statistics() {
        let l = Latencies::of(&[Duration::from_micros(1234)], 0);
        assert_eq!(l.warm_calls, 0);
        assert_eq!(l.p50_us, None);
        assert_eq!(l.to_json("f")["cold_start_us"], 1234.0);
    }
}
