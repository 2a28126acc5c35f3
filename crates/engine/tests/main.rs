//! The interpreter driven by hand: no store, no runtime, time and events given by the test.

mod bounded_steps;
mod harness;
mod seeded;
mod task_timeouts;
