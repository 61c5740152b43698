//! An Alexa Smart Home directive through the gateway to the Alexa module's
//! slot, and from there to Home Assistant through the core's bridge; an
//! unreadable event answered as an invalid directive.

use lee_core::alexa::{Directive, ErrorType, OutputTooSmall};
use lee_core::bridge::{self, Answered, Context, Reason, Tally};
use lee_core::dispatch::{Call, DispatchError, Served};
use lee_core::event::{ClassifyError, Event};
use lee_core::metrics::Counter;
use lee_core::slots::Load;
use lee_core::time::Clock;

use super::{Body, Bridge, Handler, Outcome};

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

    /// Forward a directive through the gateway to the Alexa module's slot.
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
        let call = Call {
            interface: "Alexa",
            operation: directive.namespace,
            cache_key: None,
        };
        let home_assistant = &mut self.home_assistant;
        let deadline = self.deadline;
        let clock = &self.clock;
        let jitter = &mut self.jitter;
        let debug_token = self.tokens.for_directive_without_one();
        let marks = &self.marks;
        let mut answered = None;
        let served = self.gateway.dispatch(
            &call,
            clock.now(),
            &mut self.cache,
            &mut self.slots,
            &mut self.out,
            |Handler::AlexaDirective, arena, _cache, out| {
                marks.handler_start.set(Some(clock.now()));
                let raw_len = directive.scope.and_then(|s| s.token).map_or(0, str::len);
                // A token too long for the arena cannot be valid: an empty buffer
                // makes the core refuse it as malformed.
                let token_buf = arena.alloc(raw_len).unwrap_or_default();
                let context = Context {
                    transport,
                    clock,
                    jitter,
                    message_id,
                    debug_token,
                    token_buf,
                };
                let answered_now = home_assistant
                    .answer_directive(directive, event, deadline, context, out, tally);
                marks.handler_end.set(Some(clock.now()));
                let (len, outcome) = answered_now?;
                answered = Some(outcome);
                Ok(len)
            },
        );
        self.marks.gateway_end.set(Some(self.clock.now()));
        match served {
            Ok(served) => {
                if let Served::Handled { load, .. } = served
                    && load != Load::Warm
                {
                    self.metrics.incr(Counter::SlotLoads);
                }
                // Alexa routes are never cached, so the handler always ran and set it.
                let outcome = answered.unwrap_or(Answered::PassedThrough);
                Ok((served.len(), outcome))
            }
            Err(DispatchError::Handler(too_small)) => Err(too_small),
            Err(DispatchError::OutputTooSmall { .. }) => Err(OutputTooSmall),
            Err(_) => bridge::refuse(Some(directive), Reason::Engine, message_id, &mut self.out),
        }
    }
}
