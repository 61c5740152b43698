//! Module identity: which part of lee produced a cache entry or owns a slot.

use core::fmt;

/// A module of the engine (the Alexa bridge, HA states, HA services, ...).
///
/// The core only needs a small, copyable identity to tag cache entries and
/// name slots; what each id means is decided by the frontend that registers
/// the modules, which also gives each one a human name for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleId(pub u16);

impl fmt::Display for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "module#{}", self.0)
    }
}
