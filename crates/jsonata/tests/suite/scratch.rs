use super::common::*;

#[test]
fn scratch() {
    let n: usize = std::env::var("DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(10);
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let src = format!("($f := function($n){{ $n <= 0 ? 0 : 1 + $f($n - 1) }}; $f({n}))");
            let r = eval_with(&src, None);
            println!("RESULT {n} {:?}", r.map(|_| ()));
        })
        .unwrap();
    h.join().unwrap();
}
