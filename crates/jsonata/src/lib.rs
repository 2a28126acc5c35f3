//! JSONata evaluator.
