//! Deliberately broken rules, compiled only into the crate's own unit tests, to prove that the
//! simulator's checks can fail. In every other build `active` is a constant `false`.

/// A rule the cores break on purpose when a test switches it on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum DeliberateBug {
    /// A participant that voted yes and heard nothing aborts on its own after the in-doubt delay.
    ParticipantAbortsOnItsOwn,
    /// A coordinator treats a missing vote as yes.
    CoordinatorCommitsOnMissingVote,
    /// A restarted coordinator commits its ordered, undecided transfers (presumed commit).
    PresumedCommit,
    /// A participant skips the stamp fencing.
    NoFencing,
    /// A coordinator sends each outcome once and never again.
    NoRetransmission,
    /// A participant books a debit another bank asks for without looking at its consent.
    NoConsentCheck,
    /// A participant takes a prepare's stamp without checking its quorum certificate.
    NoCertificateCheck,
    /// A participant applies outcomes from any bank, not only the transfer's coordinator.
    OutcomesFromAnyone,
    /// A participant books debits without looking at the account's transfer limits.
    NoLimitCheck,
}

#[cfg(test)]
thread_local! {
    static ACTIVE: std::cell::Cell<Option<DeliberateBug>> = const { std::cell::Cell::new(None) };
}

/// True if this bug is switched on for the current thread (unit tests only).
#[cfg(test)]
pub(crate) fn active(bug: DeliberateBug) -> bool {
    ACTIVE.with(|active| active.get() == Some(bug))
}

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn active(_bug: DeliberateBug) -> bool {
    false
}

/// Runs `work` with `bug` switched on for the current thread.
#[cfg(test)]
pub(crate) fn with_bug<R>(bug: DeliberateBug, work: impl FnOnce() -> R) -> R {
    ACTIVE.with(|active| active.set(Some(bug)));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    ACTIVE.with(|active| active.set(None));
    match result {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
