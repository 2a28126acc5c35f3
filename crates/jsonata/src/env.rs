//! Variable scopes.
//!
//! Frames live in an arena owned by one evaluation and are addressed by index, so closures can
//! refer to their defining scope without reference cycles; everything is dropped together when
//! the evaluation ends.

use std::cell::RefCell;

use crate::value::{Opt, Tuple};

/// Index of a frame in the arena.
pub(crate) type FrameId = usize;

struct Frame<'a> {
    parent: Option<FrameId>,
    vars: Vec<(&'a str, Opt<'a>)>,
}

/// The frame arena.
pub(crate) struct Frames<'a> {
    frames: RefCell<Vec<Frame<'a>>>,
}

impl<'a> Frames<'a> {
    /// An arena holding only the root frame (id 0).
    pub fn new() -> Self {
        Frames {
            frames: RefCell::new(vec![Frame {
                parent: None,
                vars: Vec::new(),
            }]),
        }
    }

    /// The root frame.
    pub const ROOT: FrameId = 0;

    /// Creates a child frame of `parent`.
    pub fn child(&self, parent: FrameId) -> FrameId {
        let mut frames = self.frames.borrow_mut();
        frames.push(Frame {
            parent: Some(parent),
            vars: Vec::new(),
        });
        frames.len() - 1
    }

    /// Creates a child frame holding a tuple's bindings.
    pub fn push_tuple(&self, parent: FrameId, tuple: &Tuple<'a>) -> FrameId {
        let mut frames = self.frames.borrow_mut();
        frames.push(Frame {
            parent: Some(parent),
            vars: tuple.clone(),
        });
        frames.len() - 1
    }

    /// Binds (or rebinds) a name in a frame; binding undefined shadows outer bindings.
    pub fn bind(&self, frame: FrameId, name: &'a str, value: Opt<'a>) {
        let mut frames = self.frames.borrow_mut();
        let vars = &mut frames[frame].vars;
        match vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name, value)),
        }
    }

    /// Looks a name up through the frame chain: `None` if no frame binds it, `Some(None)` if it
    /// is bound to undefined.
    pub fn lookup(&self, frame: FrameId, name: &str) -> Option<Opt<'a>> {
        let frames = self.frames.borrow();
        let mut current = Some(frame);
        while let Some(id) = current {
            let f = &frames[id];
            if let Some((_, v)) = f.vars.iter().rev().find(|(n, _)| *n == name) {
                return Some(v.clone());
            }
            current = f.parent;
        }
        None
    }
}
