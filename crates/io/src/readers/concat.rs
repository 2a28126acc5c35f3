//! The items of a sequence of objects, one object after the other.

use crate::location::ObjectRef;
use sluice_engine::invoke::TaskError;
use sluice_engine::items::{ItemIter, ReadItem};

/// The items of each object `sources` yields, opened one at a time with `open`. An error,
/// from the sources or from an object, is yielded and ends the iteration.
pub(crate) fn concat<S, F>(sources: S, open: F) -> ItemIter
where
    S: Iterator<Item = Result<ObjectRef, TaskError>> + Send + 'static,
    F: FnMut(&ObjectRef) -> Result<ItemIter, TaskError> + Send + 'static,
{
    Box::new(Concat {
        sources,
        open,
        current: None,
        done: false,
    })
}

struct Concat<S, F> {
    sources: S,
    open: F,
    current: Option<ItemIter>,
    done: bool,
}

impl<S, F> Iterator for Concat<S, F>
where
    S: Iterator<Item = Result<ObjectRef, TaskError>>,
    F: FnMut(&ObjectRef) -> Result<ItemIter, TaskError>,
{
    type Item = Result<ReadItem, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some(items) = &mut self.current {
                match items.next() {
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    Some(item) => return Some(item),
                    None => self.current = None,
                }
            }
            match self.sources.next() {
                None => self.done = true,
                Some(Ok(object)) => match (self.open)(&object) {
                    Ok(items) => self.current = Some(items),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
