//! The outbox's retry rule: when a failed mail is tried again, and when it is given up.

use std::time::Duration;

use super::MailError;

/// How the outbox retries a mail: a first wait after the first failed attempt, doubling
/// after each further one up to a cap, and a last attempt after which the mail is failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 1 minute, 2, 4 … up to an hour; failed after the 10th attempt (about 4 hours on).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            first_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(3600),
        }
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// Refuses a policy that could not work: no attempt at all, a zero first wait, a cap
    /// below the first wait.
    pub fn check(&self) -> Result<(), MailError> {
        if self.max_attempts == 0 {
            return Err(MailError::Policy(
                "mail_max_attempts must be at least 1".into(),
            ));
        }
        if self.first_delay.is_zero() {
            return Err(MailError::Policy(
                "mail_retry_min must be at least 1 second".into(),
            ));
        }
        if self.max_delay < self.first_delay {
            return Err(MailError::Policy(format!(
                "mail_retry_max ({} s) must not be below mail_retry_min ({} s)",
                self.max_delay.as_secs(),
                self.first_delay.as_secs()
            )));
        }
        Ok(())
    }

    /// The wait after `attempts` failed attempts (1 or more): the first wait doubled for each
    /// attempt after the first, never above the cap.
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(32);
        self.first_delay
            .checked_mul(1u32 << doublings.min(31))
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// After the attempt numbered `attempts` failed: wait and retry, or give up.
    pub fn after_failure(&self, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts {
            AfterFailure::GiveUp
        } else {
            AfterFailure::RetryIn(self.delay(attempts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_secs(60));
        assert_eq!(p.delay(2), Duration::from_secs(120));
        assert_eq!(p.delay(7), Duration::from_secs(3600));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(3600));
        assert_eq!(p.after_failure(10), AfterFailure::GiveUp);
        assert!(RetryPolicy {
            max_attempts: 0,
            ..p
        }
        .check()
        .is_err());
    }
}
