//! Engine ops: Home Assistant's REST API for people, scripts and automations.
//!
//! An engine op is an event `{"op": "<name>", ...arguments}`. It carries no
//! Alexa token: lee uses the configured Home Assistant token (`HA_TOKEN`, else
//! the Parameter Store parameter `HA_TOKEN_PARAMETER` (see [`crate::parameters`]),
//! else `LONG_LIVED_ACCESS_TOKEN`, or the stdio harness's `--token-file`). Every
//! argument is checked before any request (see [`lee_core::ha`]); a bad one
//! gets `{"ok": false, "error": {"code", "field", "message"}}` and never
//! reaches Home Assistant.
//!
//! | op | arguments | Home Assistant |
//! |---|---|---|
//! | `ha.health` | none | `GET /api/`, answer cached 30 s |
//! | `ha.states` | optional `entity_ids` (list), `domain` or `area` | one `GET /api/states`; every entity is filed in the cache |
//! | `ha.state` | `entity_id` | from the cache when fresh, else `GET /api/states/<entity_id>` |
//! | `ha.call_service` | `domain`, `service`, `entity_id` or `entity_ids` and/or `area`, optional `data` (object) | `POST /api/services/<domain>/<service>`, one request for every target; areas through `POST /api/template` (`area_entities`, cached) |
//! | `ha.scene.activate`, `ha.script.run` (`variables`) | `entity_id` in the op's domain | `scene.turn_on`, `script.turn_on` |
//! | `ha.automation.trigger` (`skip_condition`), `.enable`, `.disable` | `entity_id` | `automation.trigger`, `turn_on`, `turn_off` |
//! | `ha.input.set` | `entity_id` of a helper, `value` | the helper's service, within the limits its state gives (`Guard`, in `check`) |
//! | `ha.notify` | `message`, optional `title`, `service`, `data` | `notify.<service>` |
//! | `ha.timer.start` (`duration`), `.pause`, `.cancel` | `entity_id` | `timer.start`, `pause`, `cancel` |
//! | `ha.conversation` | `text`, optional `conversation_id`, `language` | `POST /api/conversation/process` (Assist) |
//! | `ha.find` | `name`, optional `domain`, `limit` (1–20, default 5) | the cached states, else `GET /api/states`; scored by [`lee_core::ha::name_score`] |
//!
//! `ha.states`, `ha.state` and the ops that call a service (their `changed`
//! states) also take `fields` (dotted paths to keep) and `flatten`
//! (attributes to the top level), applied to the answer only (see `shape`).
//!
//! Caching: each entity's state is filed under `ha.state/<entity_id>` for
//! [`STATE_TTL`], tagged with the HA client module. `ha.state` is answered
//! from there by the gateway without loading any module; `ha.call_service`
//! invalidates exactly the states of the entities it targeted.
//!
//! Modules (LUGS): the HA client (`ha.health`, `ha.states`, `ha.state`) stays
//! loaded while used and is reclaimed after 30 s idle (`TimeBased`);
//! services are a feature module, reclaimed after each call (`Immediate`).
//!
//! Where each part lives:
//!
//! - this file: the op table ([`Op`]: names, which ops write) and the modules
//!   that run them;
//! - `check`: every argument checked before any request, by op family
//!   (reads, service calls, helpers, Assist);
//! - `client`: the `Client` that talks to Home Assistant for one op;
//! - `cache`: what is kept in the cache and for how long, and `ha.states`
//!   answered from it;
//! - `find`: `ha.find`'s fuzzy name matching;
//! - `refused`: why an op failed, and its error answer;
//! - `shape`: `fields` and `flatten`, the answer shaped for its caller.

use lee_core::module::ModuleId;

mod cache;
mod check;
mod client;
mod find;
mod refused;
mod shape;

pub use cache::{AREA_KEY_PREFIX, AREA_TTL, HEALTH_TTL, STATE_TTL};
pub(crate) use cache::{
    Filter, FromCache, REFRESH_AT_MOST, state_answer, state_key, states_in_cache,
};
pub(crate) use check::{Checked, Guard, check};
pub(crate) use client::{Client, changed_entities};
pub(crate) use find::find;
pub(crate) use refused::{Failed, Refused, error_answer};
pub(crate) use shape::Shape;

/// The HA client module: reads (health, states).
pub(crate) const HA_CLIENT: ModuleId = ModuleId(2);
/// The services module: writes.
pub(crate) const HA_SERVICES: ModuleId = ModuleId(3);

/// The engine ops lee knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ha.health`.
    Health,
    /// `ha.states`.
    States,
    /// `ha.state`.
    State,
    /// `ha.call_service`.
    CallService,
    /// `ha.scene.activate`.
    SceneActivate,
    /// `ha.script.run`.
    ScriptRun,
    /// `ha.automation.trigger`.
    AutomationTrigger,
    /// `ha.automation.enable`.
    AutomationEnable,
    /// `ha.automation.disable`.
    AutomationDisable,
    /// `ha.input.set`.
    InputSet,
    /// `ha.notify`.
    Notify,
    /// `ha.timer.start`.
    TimerStart,
    /// `ha.timer.pause`.
    TimerPause,
    /// `ha.timer.cancel`.
    TimerCancel,
    /// `ha.conversation`.
    Conversation,
    /// `ha.find`.
    Find,
}

impl Op {
    /// Every op, with its name.
    pub const ALL: [(&'static str, Op); 16] = [
        ("ha.health", Op::Health),
        ("ha.states", Op::States),
        ("ha.state", Op::State),
        ("ha.call_service", Op::CallService),
        ("ha.scene.activate", Op::SceneActivate),
        ("ha.script.run", Op::ScriptRun),
        ("ha.automation.trigger", Op::AutomationTrigger),
        ("ha.automation.enable", Op::AutomationEnable),
        ("ha.automation.disable", Op::AutomationDisable),
        ("ha.input.set", Op::InputSet),
        ("ha.notify", Op::Notify),
        ("ha.timer.start", Op::TimerStart),
        ("ha.timer.pause", Op::TimerPause),
        ("ha.timer.cancel", Op::TimerCancel),
        ("ha.conversation", Op::Conversation),
        ("ha.find", Op::Find),
    ];

    /// Whether the op changes something (runs in the services module).
    pub fn writes(self) -> bool {
        !matches!(self, Op::Health | Op::States | Op::State | Op::Find)
    }

    /// The op called `name`.
    pub fn named(name: &str) -> Option<Op> {
        Op::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }
}
