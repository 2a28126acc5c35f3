//! Handing one trigger event to its [`Target`]: a message onto a queue, a call of a function,
//! or an execution of a flow.

use crate::consumer::Targets;
use crate::queues::{Outgoing, Queues};
use crate::triggers::Target;
use serde_json::Value;
use sluice_engine::invoke::{InvokeRequest, Target as Callee};
use std::time::Duration;

/// One event, as each kind of target takes it.
pub(crate) struct Delivery {
    /// The trigger that raised it.
    pub trigger: String,
    /// The message body (as JSON text) and the function's payload.
    pub event: Value,
    /// The name of the flow execution it starts.
    pub execution: String,
    /// The flow execution's input.
    pub input: Value,
    /// The function call's idempotency key.
    pub key: String,
}

/// Delivers `delivery` to `target`; returns once the message or execution is durable, or the
/// function answered.
pub(crate) async fn deliver(
    target: &Target,
    queues: &Queues,
    targets: &Targets,
    delivery: Delivery,
) -> Result<(), String> {
    match target {
        Target::Flow(flow) => {
            targets
                .flows
                .start(flow, &delivery.execution, delivery.input)
                .await
        }
        Target::Queue(queue) => {
            let message = Outgoing {
                body: delivery.event.to_string(),
                attributes: Value::Null,
                delay: Duration::ZERO,
            };
            queues
                .send_async(queue, vec![message])
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Target::Function(function) => {
            let request = InvokeRequest {
                target: Callee::Function {
                    name: function.clone(),
                    wrap: false,
                },
                resource: format!("sluice:function:{function}"),
                payload: delivery.event,
                idempotency_key: delivery.key,
                execution: format!("trigger/{}", delivery.trigger),
                timeout_seconds: None,
            };
            targets
                .functions
                .invoke(request)
                .await
                .map(|_| ())
                .map_err(|e| format!("{}: {}", e.error, e.cause))
        }
    }
}
