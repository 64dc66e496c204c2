//! Single flight: concurrent callers that need the same asynchronous work (a token refresh
//! after several parallel requests all got 401) share one run of it instead of each starting
//! their own. Single-threaded (wasm), so `Rc`/`RefCell` suffice.

use std::{cell::RefCell, future::Future, pin::Pin, rc::Rc};

use futures::future::{FutureExt, Shared};

type Flight<T> = Shared<Pin<Box<dyn Future<Output = T>>>>;

pub struct SingleFlight<T: Clone + 'static> {
    current: Rc<RefCell<Option<Flight<T>>>>,
}

impl<T: Clone + 'static> Clone for SingleFlight<T> {
    fn clone(&self) -> Self {
        Self {
            current: self.current.clone(),
        }
    }
}

impl<T: Clone + 'static> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            current: Rc::new(RefCell::new(None)),
        }
    }
}

impl<T: Clone + 'static> SingleFlight<T> {
    /// Joins the flight in progress, or starts `start()` as a new one. The slot is cleared when
    /// the flight lands, so the next call after that starts afresh.
    pub fn run<F, Fut>(&self, start: F) -> impl Future<Output = T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + 'static,
    {
        let existing = self.current.borrow().clone();
        let flight = match existing {
            Some(f) => f,
            None => {
                let slot = self.current.clone();
                let fut = start();
                let wrapped: Pin<Box<dyn Future<Output = T>>> = Box::pin(async move {
                    let out = fut.await;
                    slot.borrow_mut().take();
                    out
                });
                let shared = wrapped.shared();
                *self.current.borrow_mut() = Some(shared.clone());
                shared
            }
        };
        flight
    }

    pub fn in_flight(&self) -> bool {
        self.current.borrow().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{channel::oneshot, executor::block_on, future::join};
    use std::cell::Cell;

    #[test]
    fn concurrent_callers_share_one_run() {
        let sf: SingleFlight<u32> = SingleFlight::default();
        let runs = Rc::new(Cell::new(0));
        let (tx, rx) = oneshot::channel::<u32>();
        let rx = rx.shared();
        let start = |runs: Rc<Cell<u32>>, rx: futures::future::Shared<oneshot::Receiver<u32>>| {
            move || {
                runs.set(runs.get() + 1);
                async move { rx.await.unwrap() }
            }
        };
        let a = sf.run(start(runs.clone(), rx.clone()));
        assert!(sf.in_flight());
        // A clone (what each refresh takes from the tab's one `FLIGHT`) is the same flight.
        let b = sf.clone().run(start(runs.clone(), rx.clone()));
        tx.send(7).unwrap();
        let (x, y) = block_on(join(a, b));
        assert_eq!((x, y), (7, 7));
        assert_eq!(runs.get(), 1, "the second caller joined the first flight");
        assert!(!sf.in_flight(), "slot cleared after landing");
    }

    #[test]
    fn a_later_call_starts_a_new_flight() {
        let sf: SingleFlight<u32> = SingleFlight::default();
        assert_eq!(block_on(sf.run(|| async { 1 })), 1);
        assert_eq!(block_on(sf.run(|| async { 2 })), 2);
    }
}
