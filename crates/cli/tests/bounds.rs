//! Resource bounds seen from the command line: what a function prints, how large an input
//! may be, and how logs are read back.

mod common;

use common::sluice;
use serde_json::{Value, json};
use sluice_functions::{LogLimits, function_log_path, log_files};
use std::path::Path;
use std::process::Command;

/// Whether `python3` can be started.
fn python_available() -> bool {
    let found = sluice_engine::testing::program_available("python3");
    if !found {
        sluice_engine::testing::skip("python3 is not installed");
    }
    found
}

/// A project with one Python function `loud` whose handler is `code` and one flow calling it.
fn project(dir: &Path, code: &str) {
    std::fs::create_dir_all(dir.join("functions")).unwrap();
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(dir.join("functions/loud.py"), code).unwrap();
    std::fs::write(
        dir.join("sluice.yaml"),
        "storage: file://./data\n\
         functions:\n  loud: { runtime: python3, handler: functions/loud.handler, timeout: 120s }\n\
         flows:\n  main: flows/main.json\n",
    )
    .unwrap();
    let flow = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sluice:function:loud", "End": true}}});
    std::fs::write(dir.join("flows/main.json"), flow.to_string()).unwrap();
}

/// Runs `sluice ARGS` under a Python parent that reports the peak resident set of the
/// process tree it waited for (`getrusage(RUSAGE_CHILDREN).ru_maxrss`, in KiB) on its last
/// line of stderr. Returns the exit status, stdout, stderr without that line, and the peak.
fn sluice_peak_rss(data_dir: &Path, args: &[&str]) -> (i32, String, String, u64) {
    let script = "import resource, subprocess, sys\n\
                  code = subprocess.run(sys.argv[1:]).returncode\n\
                  sys.stderr.write('\\n%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                  sys.exit(code)\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let (rest, peak) = stderr.trim_end().rsplit_once('\n').expect("peak line");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        rest.to_string(),
        peak.trim().parse().expect("peak in KiB"),
    )
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[test]
fn a_function_printing_200_mb_costs_little_memory_and_capped_log_files() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project_dir = dir.path().join("loud");
    project(
        &project_dir,
        "import sys\n\n\
         def handler(event, context):\n\
         \x20   chunk = 'x' * (1 << 20)\n\
         \x20   for i in range(200):\n\
         \x20       sys.stdout.write(chunk)\n\
         \x20       sys.stdout.write('\\n' if i % 2 else '')\n\
         \x20       sys.stderr.write('line %d\\n' % i)\n\
         \x20   sys.stdout.flush()\n\
         \x20   return {'printed': 200}\n",
    );
    let data_dir = dir.path().join(".sluice");
    let project = project_dir.to_str().unwrap();
    let (code, stdout, stderr, peak_kib) =
        sluice_peak_rss(&data_dir, &["invoke", project, "loud", "--json"]);
    println!("peak RSS of sluice invoke printing 200 MiB: {peak_kib} KiB");
    assert_eq!(code, 0, "{stderr}");
    let line: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(line["output"], json!({"printed": 200}), "{line}");
    assert!(
        peak_kib < 150 * 1024,
        "peak RSS {peak_kib} KiB for 200 MiB of output"
    );
    let logs = data_dir.join("logs");
    let total = dir_bytes(&logs);
    println!("log directory: {total} bytes");
    let cap = LogLimits::default();
    assert!(
        total <= cap.max_bytes() + 1024 * 1024,
        "log directory holds {total} bytes"
    );
    let files = log_files(&function_log_path(&logs, "loud"));
    assert_eq!(files.len(), cap.files_kept + 1, "{files:?}");
}

/// A log record as the function pool writes it.
fn record(ts: &str, function: &str, request: &str, line: &str) -> String {
    json!({"ts": ts, "function": function, "request_id": request, "stream": "stdout", "line": line})
        .to_string()
}

#[test]
fn logs_are_streamed_and_tailed_from_the_end_however_large() {
    if !python_available() {
        return;
    }
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join(".sluice");
    let logs = data_dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // 64 MiB in one file, as a log left uncapped would be.
    let lines = 64 * 1024;
    let mut file = std::io::BufWriter::new(std::fs::File::create(logs.join("big.jsonl")).unwrap());
    let padding = "x".repeat(900);
    for n in 0..lines {
        let line = record(
            "2024-01-01T00:00:00Z",
            "big",
            "r",
            &format!("{n} {padding}"),
        );
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    drop(file);

    let (code, stdout, stderr, peak_kib) = sluice_peak_rss(&data_dir, &["logs", "big", "--json"]);
    println!("peak RSS of sluice logs over 64 MiB: {peak_kib} KiB");
    assert_eq!(code, 0, "{stderr}");
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed.len(), lines);
    assert!(printed[lines - 1].contains(&format!("\"{} x", lines - 1)));
    assert!(peak_kib < 40 * 1024, "peak RSS {peak_kib} KiB");

    let out = sluice(&data_dir)
        .args(["logs", "big", "--tail", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let firsts: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(firsts, ["65534", "65535"], "{text}");

    // An execution's lines are merged from every function in time order.
    let requests = [
        json!({"request_id": "a1", "execution": "arn:aws:states:r:1:execution:m:exec-1"}),
        json!({"request_id": "b1", "execution": "arn:aws:states:r:1:execution:m:exec-1"}),
        json!({"request_id": "a2", "execution": "arn:aws:states:r:1:execution:m:exec-2"}),
    ];
    let text: String = requests.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(logs.join("requests.jsonl"), text).unwrap();
    let a = [
        record("2024-01-01T00:00:01Z", "a", "a1", "a one"),
        record("2024-01-01T00:00:02Z", "a", "a2", "a other"),
        record("2024-01-01T00:00:03.5Z", "a", "a1", "a three"),
    ];
    std::fs::write(logs.join("a.jsonl"), a.join("\n") + "\n").unwrap();
    let b = [
        record("2024-01-01T00:00:02Z", "b", "b1", "b two"),
        record("2024-01-01T00:00:03Z", "b", "b1", "b three"),
    ];
    std::fs::write(logs.join("b.jsonl"), b.join("\n") + "\n").unwrap();
    let lines_of = |args: &[&str]| {
        let out = sluice(&data_dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["line"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lines_of(&["logs", "exec-1", "--json"]),
        ["a one", "b two", "b three", "a three"]
    );
    assert_eq!(
        lines_of(&["logs", "exec-1", "--json", "--tail", "2"]),
        ["b three", "a three"]
    );
}

#[test]
fn an_execution_input_over_256_kib_is_refused_before_anything_is_stored() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let flow = common::write_flow(
        dir.path(),
        "pass.json",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    let flow = flow.to_str().unwrap();
    let data_dir = dir.path().join(".sluice");
    // A JSON string of n characters is n + 2 bytes: exactly at the limit runs.
    let at_limit = dir.path().join("at-limit.json");
    std::fs::write(&at_limit, format!("\"{}\"", "x".repeat(262_142))).unwrap();
    let input = format!("@{}", at_limit.display());
    let out = sluice(&data_dir)
        .args(["run", flow, "--json", "--input", &input])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::last_json_line(&out)["status"], "SUCCEEDED");

    // 45 MB is refused from the file's size, without reading it.
    let big = dir.path().join("big.json");
    let size = 45 * 1024 * 1024;
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(size).unwrap();
    let fresh = dir.path().join(".fresh");
    let input = format!("@{}", big.display());
    let (code, _, stderr, peak_kib) =
        sluice_peak_rss(&fresh, &["run", flow, "--json", "--input", &input]);
    println!("peak RSS of sluice run refusing a 45 MiB input: {peak_kib} KiB");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the execution input is {size} bytes, over the Step Functions limit of 262144 bytes"
        )),
        "{stderr}"
    );
    assert!(!fresh.exists(), "nothing is stored");
    assert!(peak_kib < 40 * 1024, "peak RSS {peak_kib} KiB");

    // A stream is read no further than the limit.
    let out = sluice(&fresh)
        .args(["run", flow, "--input", "@/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the execution input is over the Step Functions limit of 262144 bytes"),
        "{stderr}"
    );
    assert!(!fresh.exists(), "nothing is stored");
}

#[test]
fn objects_of_200_mb_are_streamed_both_ways() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project_dir = dir.path().join("objects");
    project(
        &project_dir,
        "import http.client, json, os\n\n\
         def handler(event, context):\n\
         \x20   host, port = os.environ['AWS_LAMBDA_RUNTIME_API'].split(':')\n\
         \x20   chunk = b'y' * (1 << 20)\n\
         \x20   conn = http.client.HTTPConnection(host, int(port))\n\
         \x20   body = (chunk for _ in range(200))\n\
         \x20   conn.request('PUT', '/sluice/objects/big/blob.bin', body=body, encode_chunked=True)\n\
         \x20   put = json.loads(conn.getresponse().read())\n\
         \x20   conn.request('GET', '/sluice/objects/big/blob.bin')\n\
         \x20   response, got = conn.getresponse(), 0\n\
         \x20   while True:\n\
         \x20       block = response.read(1 << 20)\n\
         \x20       if not block:\n\
         \x20           break\n\
         \x20       got += len(block)\n\
         \x20   return {'put': put, 'got': got}\n",
    );
    let data_dir = dir.path().join(".sluice");
    let project = project_dir.to_str().unwrap();
    let (code, stdout, stderr, peak_kib) =
        sluice_peak_rss(&data_dir, &["invoke", project, "loud", "--json"]);
    println!("peak RSS of sluice invoke storing and reading 200 MiB: {peak_kib} KiB");
    assert_eq!(code, 0, "{stderr}");
    let size = 200 * 1024 * 1024;
    let line: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        line["output"],
        json!({"put": {"key": "big/blob.bin", "size": size}, "got": size}),
        "{line}"
    );
    let stored = std::fs::metadata(project_dir.join("data/big/blob.bin")).unwrap();
    assert_eq!(stored.len(), size);
    assert!(peak_kib < 150 * 1024, "peak RSS {peak_kib} KiB");
}
