//! Every op's arguments, checked before any request: [`check`] gives the
//! [`Checked`] form the client runs, or the [`OpError`] answered instead
//! (nothing reaches Home Assistant then). One file per op family: reads,
//! service calls, helpers (`input_*`), Assist.

use std::borrow::Cow;

use lee_core::ha::OpError;
use serde_json::{Map, Value};

use super::{Filter, Op};

mod args;
mod assist;
mod input;
mod reads;
mod service_calls;

pub(in crate::ops) use args::error;
pub(crate) use input::{Guard, Limit};
use service_calls::entity_service;

/// An op's arguments, checked.
#[derive(Debug)]
pub(crate) enum Checked<'a> {
    Health,
    States {
        filter: Filter,
    },
    State {
        entity: String,
    },
    /// `ha.states` of the entities in an area.
    StatesInArea {
        area: String,
    },
    CallService {
        domain: Cow<'a, str>,
        service: Cow<'a, str>,
        entities: Vec<String>,
        /// Targets every entity of this area too (resolved through HA's template API).
        area: Option<String>,
        data: Map<String, Value>,
        /// A limit read from the target's state before the call.
        guard: Option<Guard>,
    },
    /// The body of `POST /api/conversation/process`.
    Conversation(Map<String, Value>),
    /// `ha.find`: the name asked for, an optional domain, how many candidates.
    Find {
        name: String,
        filter: Filter,
        limit: usize,
    },
}

/// Check an op's arguments; nothing is sent when this fails.
pub(crate) fn check<'a>(op: Op, args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
    match op {
        Op::Health => Ok(Checked::Health),
        Op::States => reads::states(args),
        Op::State => reads::state(args),
        Op::Find => reads::find(args),
        Op::CallService => service_calls::call_service(args),
        Op::SceneActivate => entity_service(args, "scene", "turn_on", Map::new()),
        Op::ScriptRun => service_calls::script_run(args),
        Op::AutomationTrigger => service_calls::automation_trigger(args),
        Op::AutomationEnable => entity_service(args, "automation", "turn_on", Map::new()),
        Op::AutomationDisable => entity_service(args, "automation", "turn_off", Map::new()),
        Op::Notify => service_calls::notify(args),
        Op::TimerStart => service_calls::timer_start(args),
        Op::TimerPause => entity_service(args, "timer", "pause", Map::new()),
        Op::TimerCancel => entity_service(args, "timer", "cancel", Map::new()),
        Op::InputSet => input::input_set(args),
        Op::Conversation => assist::conversation(args),
    }
}
