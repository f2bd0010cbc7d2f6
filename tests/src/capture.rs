//! Capturing log lines in a test: a `tracing` subscriber writing into a shared buffer, set as
//! the default for the current thread (use a current-thread runtime so every task logs there).

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// The captured output.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Starts capturing on this thread until the guard drops.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        Self::start_with("info")
    }

    /// Like [`LogCapture::start`], with a `tracing` filter (`"trace"` captures every span and
    /// event of every library, which is what a secrets check wants).
    pub fn start_with(filter: &str) -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(capture.clone())
            .finish();
        (capture.clone(), tracing::subscriber::set_default(subscriber))
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Whether a line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
