//! The single-line progress indicator on stderr (only when stderr is a terminal).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Counters the drivers bump as operations complete (all phases).
#[derive(Debug, Default)]
pub struct Counters {
    completed: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    pub fn note(&self, ok: bool) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// The text of one progress line.
pub fn progress_line(
    label: &str,
    elapsed: Duration,
    completed: u64,
    failed: u64,
    rate: f64,
) -> String {
    format!(
        "{label} {:>6.1}s  {completed:>10} ops  {rate:>9.0} ops/s  {failed} errors",
        elapsed.as_secs_f64()
    )
}

/// Redraws the line every 250 ms until dropped; does nothing if stderr is not a terminal.
pub struct ProgressLine {
    task: Option<JoinHandle<()>>,
}

impl ProgressLine {
    /// `workload` names the run; the line says "warm-up" until `warmup_end`, then "measure".
    pub fn start(workload: &str, warmup_end: Instant, counters: Arc<Counters>) -> ProgressLine {
        if !std::io::stderr().is_terminal() {
            return ProgressLine { task: None };
        }
        let workload = workload.to_string();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last = (Instant::now(), 0u64);
            let mut ticks = tokio::time::interval(Duration::from_millis(250));
            loop {
                ticks.tick().await;
                let now = Instant::now();
                let completed = counters.completed();
                let window = now.duration_since(last.0).as_secs_f64();
                let rate = if window > 0.0 {
                    completed.saturating_sub(last.1) as f64 / window
                } else {
                    0.0
                };
                last = (now, completed);
                let phase = if now < warmup_end {
                    "warm-up"
                } else {
                    "measure"
                };
                let label = format!("{workload} {phase}");
                let line = progress_line(
                    &label,
                    started.elapsed(),
                    completed,
                    counters.failed(),
                    rate,
                );
                let mut err = std::io::stderr().lock();
                // A progress line that cannot be drawn is not worth failing the run for.
                let _ = write!(err, "\r\x1b[2K{line}");
                let _ = err.flush();
            }
        });
        ProgressLine { task: Some(task) }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_completions_and_failures() {
        let counters = Counters::default();
        counters.note(true);
        counters.note(false);
        counters.note(true);
        assert_eq!((counters.completed(), counters.failed()), (3, 1));
    }

    #[test]
    fn the_line_shows_time_ops_rate_and_errors() {
        let line = progress_line("get", Duration::from_millis(2500), 1234, 5, 987.6);
        assert!(line.starts_with("get    2.5s"), "{line}");
        assert!(line.contains("1234 ops"), "{line}");
        assert!(line.contains("988 ops/s"), "{line}");
        assert!(line.ends_with("5 errors"), "{line}");
    }
}
