//! A guard against native stack exhaustion in the recursive parser and evaluator.
//!
//! The guard remembers where the stack was when it was created and reports `U1001` once
//! recursion has used more than [`STACK_BUDGET`] bytes below that point, so that runaway
//! recursion in an expression fails cleanly instead of overflowing the thread's stack.

use crate::error::{Failure, Res};

/// Native stack an evaluation (or parse) may use.
pub(crate) const STACK_BUDGET: usize = 1 << 20;

/// Remembers the stack position at the start of a parse or evaluation.
#[derive(Clone, Copy)]
pub(crate) struct StackGuard {
    base: usize,
}

fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

impl StackGuard {
    /// A guard anchored at the caller's stack position.
    pub fn new() -> StackGuard {
        StackGuard {
            base: stack_position(),
        }
    }

    /// Fails with `U1001` when the budget is exhausted.
    pub fn check(&self) -> Res<()> {
        if stack_position().abs_diff(self.base) > STACK_BUDGET {
            Err(Failure::new("U1001"))
        } else {
            Ok(())
        }
    }
}
