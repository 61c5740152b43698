//! An Alexa Smart Home directive run in the Alexa module's slot, and from
//! there to Home Assistant through the core's bridge; an unreadable event
//! answered as an invalid directive.

use lee_core::alexa::{Directive, ErrorType, OutputTooSmall};
use lee_core::bridge::{self, Answered, Context, Reason, Tally};
use lee_core::event::{ClassifyError, Event};
use lee_core::metrics::Counter;
use lee_core::slots::Load;
use lee_core::time::Clock;

use super::{Body, Bridge, Outcome};

impl Bridge {
    pub(super) fn answer_classified(
        &mut self,
        classified: Result<Event<'_>, ClassifyError>,
        event: &[u8],
    ) -> (Outcome, Body) {
        let message_id = self.random_id();
        let mut tally = Tally::default();
        let (len, outcome) = match self.answer_event(classified, event, message_id, &mut tally) {
            Ok(answered) => answered,
            // Only an answer echoing a huge correlationToken can outgrow the
            // buffer; the same error without the echo always fits.
            Err(OutputTooSmall) => {
                bridge::refuse(None, Reason::AnswerTooLarge, message_id, &mut self.out).unwrap_or((
                    0,
                    Answered::Error(ErrorType::InternalError, Reason::AnswerTooLarge),
                ))
            }
        };
        self.count(outcome, &tally);
        (Outcome::Directive(outcome), Body::Out(len))
    }

    pub(super) fn answer_event(
        &mut self,
        classified: Result<Event<'_>, ClassifyError>,
        event: &[u8],
        message_id: [u8; 16],
        tally: &mut Tally,
    ) -> Result<(usize, Answered), OutputTooSmall> {
        let unreadable = match classified {
            Ok(Event::Directive(directive)) => {
                return self.forward(&directive, event, message_id, tally);
            }
            Ok(_) => ClassifyError::UnknownEvent,
            Err(e) => e,
        };
        bridge::refuse(
            None,
            Reason::Unreadable(unreadable),
            message_id,
            &mut self.out,
        )
    }

    /// Forward a directive to Home Assistant, run in the Alexa module's slot:
    /// the unescaped token is the module's working memory, scratch of its
    /// arena, zeroed as soon as the directive is answered (not kept until
    /// the policy reclaims the slot: kept, tokens would pile up in a slot
    /// that stays loaded until the arena is full and directives fail).
    /// Home Assistant's answer goes to `out`, the answer buffer returned to
    /// the caller, which a Discovery outgrows any arena for; the check of
    /// that answer needs no scratch (the JSON checker's stack is one `u128`).
    /// A Discovery's answer then passes the Discovery guard
    /// (`DISCOVERY_GUARD`, see [`super::discovery`]).
    pub(super) fn forward(
        &mut self,
        directive: &Directive<'_>,
        event: &[u8],
        message_id: [u8; 16],
        tally: &mut Tally,
    ) -> Result<(usize, Answered), OutputTooSmall> {
        self.metrics.incr(Counter::Directives);
        let Some(transport) = &mut self.transport else {
            return bridge::refuse(
                Some(directive),
                Reason::NotConfigured,
                message_id,
                &mut self.out,
            );
        };
        let home_assistant = &mut self.home_assistant;
        let deadline = self.deadline;
        let clock = &self.clock;
        let jitter = &mut self.jitter;
        let debug_token = self.tokens.for_directive_without_one();
        let marks = &self.marks;
        let out = &mut self.out;
        let watch = &mut self.discovery;
        let guard = &self.config.discovery;
        let ran = self.slots.run(self.alexa, clock.now(), |arena| {
            marks.handler_start.set(Some(clock.now()));
            let raw_len = directive.scope.and_then(|s| s.token).map_or(0, str::len);
            // A token too long for the arena cannot be valid: an empty buffer
            // makes the core refuse it as malformed.
            let token_buf = arena.scratch(raw_len).unwrap_or_default();
            let context = Context {
                transport,
                clock,
                jitter,
                message_id,
                debug_token,
                token_buf,
            };
            let mut answered =
                home_assistant.answer_directive(directive, event, deadline, context, out, tally);
            if let Ok((len, Answered::PassedThrough)) = &mut answered
                && let Some(mode) = guard.mode
                && is_discover(directive)
            {
                *len = watch.guard(out, *len, mode, &guard.priority());
            }
            marks.handler_end.set(Some(clock.now()));
            answered
        });
        self.marks.gateway_end.set(Some(self.clock.now()));
        match ran {
            Ok(ran) => {
                if ran.load != Load::Warm {
                    self.metrics.incr(Counter::SlotLoads);
                }
                ran.value
            }
            Err(_) => bridge::refuse(Some(directive), Reason::Engine, message_id, &mut self.out),
        }
    }
}

/// Whether a directive asks for Discovery.
fn is_discover(directive: &Directive<'_>) -> bool {
    directive.namespace == "Alexa.Discovery" && directive.name == "Discover"
}
