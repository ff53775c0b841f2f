//! Independent pieces of work spread over the machine's cores: scoped threads, one contiguous
//! range of items each, the first range on the calling thread. Each item is computed the same
//! way whichever thread takes it, so a result never depends on the number of threads: callers
//! reduce the items afterwards in their fixed order.
//!
//! Starting a thread costs tens of microseconds, so callers say how much work makes a thread
//! worth it (`min_per_thread`). A persistent pool (rayon's) was measured and was slower here
//! at batch 1024 (218 against 289 steps/s at 128 x 3): its idle workers sleep between the
//! passes of a step.
//!
//! In the browser there is one thread (wasm threads need shared memory, which a stable Rust
//! toolchain cannot build the standard library for), so everything runs in order there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// 0: every core; else at most this many threads (`nde bench --threads`).
static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Caps the threads every batched pass uses (0 lifts the cap).
pub fn set_max_threads(threads: usize) {
    MAX_THREADS.store(threads, Ordering::Relaxed);
}

/// The threads a batched pass may use here.
pub fn available_threads() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    // Asked once: the standard library reads the cgroup files on every call (tens of
    // microseconds of system calls, which a small plan's every evaluation paid).
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    match MAX_THREADS.load(Ordering::Relaxed) {
        0 => cores,
        cap => cap.min(cores).max(1),
    }
}

/// `job(i, &mut items[i])` for every item, on up to [`available_threads`] threads (fewer when
/// there are fewer than `min_per_thread` items per thread).
pub fn for_each_mut<T: Send>(items: &mut [T], min_per_thread: usize, job: impl Fn(usize, &mut T) + Sync) {
    let threads = available_threads().min(items.len() / min_per_thread.max(1)).max(1);
    if threads <= 1 {
        items.iter_mut().enumerate().for_each(|(i, item)| job(i, item));
        return;
    }
    let per_thread = items.len().div_ceil(threads);
    let job = &job;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks_mut(per_thread).enumerate();
        let (first_index, first) = chunks.next().expect("at least one chunk");
        for (c, chunk) in chunks {
            scope.spawn(move || {
                for (k, item) in chunk.iter_mut().enumerate() {
                    job(c * per_thread + k, item);
                }
            });
        }
        for (k, item) in first.iter_mut().enumerate() {
            job(first_index * per_thread + k, item);
        }
    });
}

/// As [`for_each_mut`], but each thread claims the next item when it finishes one, instead of
/// taking a fixed range: a core that is slowed (this machine is shared) then does fewer items
/// rather than holding the others up. Each item is still computed the same way wherever it
/// runs.
pub fn for_each_mut_claimed<T: Send>(items: &mut [T], min_per_thread: usize, job: impl Fn(usize, &mut T) + Sync) {
    let threads = available_threads().min(items.len() / min_per_thread.max(1)).max(1);
    if threads <= 1 {
        items.iter_mut().enumerate().for_each(|(i, item)| job(i, item));
        return;
    }
    let queue = std::sync::Mutex::new(items.iter_mut().enumerate());
    let work = || loop {
        // A job that panicked poisons nothing the queue needs: take it back.
        let next = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).next();
        match next {
            Some((i, item)) => job(i, item),
            None => break,
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn every_item_is_done_once_with_its_index() {
        let mut items = vec![0usize; 37];
        for_each_mut(&mut items, 1, |i, item| *item += i + 1);
        assert!(items.iter().enumerate().all(|(i, v)| *v == i + 1), "{items:?}");
        let mut claimed = vec![0usize; 37];
        for_each_mut_claimed(&mut claimed, 1, |i, item| *item += i + 1);
        assert_eq!(claimed, items, "claimed items differ");
    }
}
