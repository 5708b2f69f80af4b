//! Progress reporting on stderr for the slow steps (downloads, hashing).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Animated spinners (stderr is a terminal).
    Spinners,
    /// One line per step (stderr is a pipe or a file: logs stay readable).
    Lines,
    /// Nothing (tests, `--quiet`, library callers that report themselves).
    Hidden,
}

/// Where progress of long steps goes. Cheap to create; pass by reference.
#[derive(Debug, Clone)]
pub struct Progress {
    mode: Mode,
}

impl Progress {
    /// Spinners on stderr when it is a terminal, plain lines otherwise.
    pub fn stderr() -> Self {
        let mode = if std::io::stderr().is_terminal() {
            Mode::Spinners
        } else {
            Mode::Lines
        };
        Progress { mode }
    }

    /// Reports nothing.
    pub fn hidden() -> Self {
        Progress { mode: Mode::Hidden }
    }

    /// Starts a step; finish it with [`Step::done`] (dropping it clears the spinner).
    pub fn step(&self, message: impl Into<String>) -> Step {
        let message = message.into();
        let bar = match self.mode {
            Mode::Spinners => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(message);
                bar.enable_steady_tick(Duration::from_millis(100));
                Some(bar)
            }
            Mode::Lines => {
                eprintln!("samkit: {message} ...");
                None
            }
            Mode::Hidden => None,
        };
        Step {
            bar,
            mode: self.mode,
        }
    }
}

/// One running step of a [`Progress`].
pub struct Step {
    bar: Option<ProgressBar>,
    mode: Mode,
}

impl Step {
    /// Ends the step with a final message.
    pub fn done(self, message: impl Into<String>) {
        let message = message.into();
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.finish_with_message(message),
            (None, Mode::Lines) => eprintln!("samkit: {message}"),
            _ => {}
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}
