//! The `lambda_stubs` of `lambda_stub` cases as real Python handlers, served by a
//! [`FunctionPool`] the way a project's functions are.
//!
//! Each distinct stub becomes one function with a `handler.py` whose `handler(event, context)`
//! does what the stub's `behaviour` says; cases share these functions (each case's function
//! names are mapped to them), so a test run starts each kind of stub once and then calls it
//! warm. AWS keeps a function's handler in
//! `/var/task/handler.py`, and the recorded stack traces name that file, so the handler's code
//! is compiled under that name: a raising stub reports the frames AWS reported, through the
//! runtime's own error path.

use serde_json::Value;
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target};
use sluice_functions::{FunctionConfig, FunctionPool, PoolInvoker, PoolOptions, Runtime};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where AWS Lambda keeps the handler module of these functions.
const TASK_FILE: &str = "/var/task/handler.py";

/// Longest a stub invocation may run: longer than any stub sleeps, so that the Task's own
/// `TimeoutSeconds` is what stops a sleeping stub.
const STUB_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `python3` can be started.
pub fn python_available() -> bool {
    sluice_engine::testing::program_available("python3")
}

/// The stubs of a set of cases, served by one pool.
pub struct StubFunctions {
    pool: FunctionPool,
    /// Pool function name by handler code.
    by_code: HashMap<String, String>,
}

impl StubFunctions {
    /// Writes one handler per distinct stub of `cases` under `dir` and starts a pool serving
    /// them, in the region and account of the first case (the corpus runs every case in the
    /// same ones). No process starts before the first call.
    pub async fn start(cases: &[Value], dir: &Path) -> Result<StubFunctions, String> {
        let mut by_code = HashMap::new();
        let mut functions = Vec::new();
        for stub in cases.iter().flat_map(stubs_of) {
            let Some(code) = handler_code(stub)? else {
                continue;
            };
            if by_code.contains_key(&code) {
                continue;
            }
            let name = format!("stub-{}", by_code.len() + 1);
            let code_dir = dir.join(&name);
            std::fs::create_dir_all(&code_dir)
                .and_then(|()| std::fs::write(code_dir.join("handler.py"), module(&code)))
                .map_err(|e| format!("cannot write the stub {name}: {e}"))?;
            let mut config =
                FunctionConfig::new(&name, Runtime::Python3, "handler.handler", code_dir);
            config.timeout = STUB_TIMEOUT;
            functions.push(config);
            by_code.insert(code, name);
        }
        let mut options = PoolOptions::new(dir.join("cache"));
        if let Some(run) = cases.first().map(|c| &c["run"]) {
            if let Some(region) = run["region"].as_str() {
                options.region = region.to_string();
            }
            if let Some(account) = run["account_id"].as_str() {
                options.account_id = account.to_string();
            }
        }
        let pool = FunctionPool::start(functions, options)
            .await
            .map_err(|e| e.to_string())?;
        Ok(StubFunctions { pool, by_code })
    }

    /// The invoker for `case`: each of its stubs' names calls that stub's function; any other
    /// name (an `absent` stub) is unknown to the pool, so calling it fails as on AWS.
    pub fn invoker(&self, case: &Value) -> Result<Arc<dyn Invoker>, String> {
        let mut names = HashMap::new();
        for stub in stubs_of(case) {
            if let Some(code) = handler_code(stub)? {
                let name = stub["function_name"]
                    .as_str()
                    .ok_or("a lambda stub without function_name")?;
                let shared = self
                    .by_code
                    .get(&code)
                    .ok_or_else(|| format!("the stub {name} was not started"))?;
                names.insert(name.to_string(), shared.clone());
            }
        }
        Ok(Arc::new(CaseInvoker {
            inner: PoolInvoker::new(self.pool.clone()),
            names,
        }))
    }

    /// Stops every stub process.
    pub async fn shutdown(&self) {
        self.pool.shutdown().await;
    }
}

fn stubs_of(case: &Value) -> &[Value] {
    case["lambda_stubs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Calls a case's functions by the names of the shared stubs that play them.
struct CaseInvoker {
    inner: PoolInvoker,
    names: HashMap<String, String>,
}

impl Invoker for CaseInvoker {
    fn invoke(&self, mut request: InvokeRequest) -> InvokeFuture {
        if let Target::Function { name, .. } = &mut request.target
            && let Some(stub) = self.names.get(name.as_str())
        {
            name.clone_from(stub);
        }
        self.inner.invoke(request)
    }
}

/// The handler file: runs `code` as if it were read from [`TASK_FILE`], with its lines
/// available to tracebacks.
fn module(code: &str) -> String {
    format!(
        "import linecache\n\n\
         _FILE = {file}\n\
         _CODE = {code}\n\
         linecache.cache[_FILE] = (len(_CODE), None, _CODE.splitlines(True), _FILE)\n\
         exec(compile(_CODE, _FILE, \"exec\"))\n",
        file = py_str(TASK_FILE),
        code = py_str(code),
    )
}

/// The code of a stub's handler module, `None` for an absent function. `def handler` is on
/// line 1 and the behaviour on line 2, as in the handlers the corpus was recorded with; what
/// they use is defined after them.
fn handler_code(stub: &Value) -> Result<Option<String>, String> {
    let behaviour = stub["behaviour"].as_str().unwrap_or_default();
    let (body, support) = match behaviour {
        "absent" => return Ok(None),
        "identity" => ("return event".to_string(), String::new()),
        "constant" => (
            "return json.loads(RESULT)".to_string(),
            format!(
                "import json\nRESULT = {}\n",
                py_str(&stub["result"].to_string())
            ),
        ),
        "raise" => {
            let error_type = stub["errorType"].as_str().unwrap_or("Exception");
            if !is_identifier(error_type) {
                return Err(format!("unsupported errorType {error_type:?}"));
            }
            let message = stub["errorMessage"].as_str().unwrap_or_default();
            (
                format!("raise {error_type}({})", py_str(message)),
                format!(
                    "import builtins\n\
                     {error_type} = getattr(builtins, {name}, None) or type({name}, (Exception,), {{}})\n",
                    name = py_str(error_type)
                ),
            )
        }
        "raw_payload" => (
            "return PAYLOAD.encode(\"utf-8\")".to_string(),
            format!("PAYLOAD = {}\n", py_str(text(stub, "payload")?)),
        ),
        "raw_payload_repeat" => (
            "return (REPEAT * COUNT).encode(\"utf-8\")".to_string(),
            format!(
                "REPEAT = {}\nCOUNT = {}\n",
                py_str(text(stub, "repeat")?),
                count(stub, "count")?
            ),
        ),
        "python_format" => (
            "return TEMPLATE.format(event=event)".to_string(),
            format!("TEMPLATE = {}\n", py_str(text(stub, "template")?)),
        ),
        "sleep_then_identity" => (
            "time.sleep(SECONDS)\n    return event".to_string(),
            format!("import time\nSECONDS = {}\n", count(stub, "sleep_seconds")?),
        ),
        other => return Err(format!("unknown lambda stub behaviour {other:?}")),
    };
    let support = if support.is_empty() {
        support
    } else {
        format!("\n\n{support}")
    };
    Ok(Some(format!(
        "def handler(event, context):\n    {body}\n{support}"
    )))
}

fn text<'a>(stub: &'a Value, key: &str) -> Result<&'a str, String> {
    stub[key]
        .as_str()
        .ok_or_else(|| format!("lambda stub without {key}"))
}

fn count(stub: &Value, key: &str) -> Result<u64, String> {
    stub[key]
        .as_u64()
        .ok_or_else(|| format!("lambda stub without {key}"))
}

/// A Python string literal: JSON's string syntax is a subset of Python's.
fn py_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_raising_stub_raises_on_line_two() {
        let code = handler_code(&json!({
            "behaviour": "raise", "errorType": "Exception", "errorMessage": "Some \"x\"."
        }))
        .unwrap()
        .unwrap();
        let lines: Vec<&str> = code.lines().collect();
        assert_eq!(lines[0], "def handler(event, context):");
        assert_eq!(lines[1], r#"    raise Exception("Some \"x\".")"#);
    }

    #[test]
    fn absent_and_unknown_stubs() {
        assert_eq!(handler_code(&json!({"behaviour": "absent"})), Ok(None));
        assert!(handler_code(&json!({"behaviour": "teleport"})).is_err());
        assert!(handler_code(&json!({"behaviour": "raise", "errorType": "a.b"})).is_err());
    }
}
