//! The async driver of a [`Delivery`]: sends its commands through an [`RconClient`] with the
//! configured number in flight and feeds the outcomes back. All decisions are the state
//! machine's; this only waits.

use std::collections::HashMap;

use tokio::task::{Id, JoinSet};
use tokio::time::Instant as TokioInstant;

use crate::client::{RconClient, RconError, Reply};
use crate::connection::CommandError;
use crate::delivery::{Delivery, DeliveryError, DeliveryStats, SendToken};

/// Drives `delivery` to its outcome. Returns the counters on success. Dropping the future
/// abandons the commands still in flight (their replies are discarded).
pub async fn deliver(
    client: &RconClient,
    delivery: &mut Delivery,
) -> Result<DeliveryStats, DeliveryError> {
    let mut tasks: JoinSet<Result<Reply, RconError>> = JoinSet::new();
    let mut tokens: HashMap<Id, SendToken> = HashMap::new();
    loop {
        while let Some(command) = delivery.poll_command(now()) {
            let client = client.clone();
            let task = tasks.spawn(async move { client.command(command.text).await });
            tokens.insert(task.id(), command.token);
        }
        if let Some(outcome) = delivery.outcome() {
            tasks.abort_all();
            return outcome.clone().map(|()| delivery.stats().clone());
        }
        let wake = delivery.poll_timeout();
        if tasks.is_empty() && wake.is_none() {
            // The state machine always has a command out or a reason to wait; this is a bug.
            return Err(DeliveryError::Unsendable {
                message: delivery.message(),
                reason: "the delivery stalled with nothing in flight".into(),
            });
        }
        tokio::select! {
            joined = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let Some(joined) = joined else { continue };
                let (id, result) = match joined {
                    Ok((id, result)) => (id, Some(result)),
                    // Cancelled or panicked: the command's outcome is unknown.
                    Err(err) => (err.id(), None),
                };
                let Some(token) = tokens.remove(&id) else { continue };
                match result {
                    Some(Ok(reply)) => delivery.on_reply(token, reply.as_bytes(), now()),
                    Some(Err(RconError::Command(
                        CommandError::TimedOut { .. } | CommandError::ConnectionLost(_) | CommandError::NotReady,
                    )))
                    | None => delivery.on_lost(token),
                    Some(Err(RconError::Stopped(reason))) => {
                        tasks.abort_all();
                        return Err(DeliveryError::TransportStopped {
                            message: delivery.message(),
                            reason: reason.to_string(),
                        });
                    }
                    Some(Err(other)) => delivery.on_unsendable(token, other.to_string()),
                }
            }
            _ = sleep_until(wake), if wake.is_some() => {}
        }
    }
}

fn now() -> std::time::Instant {
    TokioInstant::now().into_std()
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(TokioInstant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}
