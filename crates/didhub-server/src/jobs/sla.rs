//! The SLA alerter: mails support each unanswered ticket once when its first response comes
//! at risk, and once when it is breached (`Support::mail_sla_alerts`; the alert is recorded
//! with the mail, so several instances may run it).

use std::time::Duration;

use didhub_store::Store;

/// Runs the alerter every `every`, the first time after one period.
pub fn spawn_sla_alerter(store: Store, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            loop {
                match store
                    .support()
                    .mail_sla_alerts(chrono::Utc::now(), 200)
                    .await
                {
                    Ok(0) => break,
                    Ok(n) => {
                        metrics::counter!("didhub_sla_alerts_total").increment(n as u64);
                        tracing::info!(alerts = n, "SLA alerts queued");
                    }
                    Err(e) => {
                        tracing::warn!("SLA alerter: {e}");
                        break;
                    }
                }
            }
        }
    });
}
