//! Test suite of the JSONata evaluator (one binary; the modules live in `suite/`).

mod suite;
