//! Fault injection (for testers and operators, through the admin API and `ringbank fault`):
//! partitions, crashes (now or at a named protocol point), pauses, token drop and replay, and
//! delay, loss and duplication of this bank's outgoing ring and two-phase-commit messages, and
//! the rate of the ring driver's clock (`RingClock`: a bank whose clock runs fast or slow).
//! Every timed fault expires on its own; every fault is logged (warn, with the bank id) and
//! counted (`injected`), and the active ones are listed by `active()`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringbank_domain::{ClockRate, CrashPoint};

use crate::ring_clock::RingClock;

/// Longest a fault may be set for.
pub const FAULT_DURATION_MAX: Duration = Duration::from_secs(3600);
/// How long a fault lasts when no duration is given.
pub const FAULT_DURATION_DEFAULT: Duration = Duration::from_secs(30);
/// Longest delay added to one outgoing message.
pub const DELAY_MAX: Duration = Duration::from_secs(10);
/// A crash or pause requested over HTTP waits this long so the answer gets out first.
const ANSWER_GRACE: Duration = Duration::from_millis(50);

/// A value in force until a deadline.
#[derive(Clone, Copy, Debug)]
struct Timed<T> {
    value: T,
    until: Instant,
}

impl<T: Copy> Timed<T> {
    fn live(slot: &Option<Timed<T>>, now: Instant) -> Option<T> {
        slot.filter(|t| t.until > now).map(|t| t.value)
    }
}

#[derive(Default)]
struct NetworkFaults {
    /// (delay, jitter) added before each outgoing message.
    delay: Option<Timed<(Duration, Duration)>>,
    loss_percent: Option<Timed<u8>>,
    duplicate_percent: Option<Timed<u8>>,
    /// The next token granted here is discarded (armed until then or until it expires).
    drop_token: Option<Timed<()>>,
}

/// What to do with one outgoing message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutgoingPlan {
    pub drop: bool,
    pub delay: Duration,
    pub duplicate: bool,
}

#[derive(Default)]
pub struct Faults {
    bank: String,
    partitioned: Mutex<HashMap<String, Instant>>,
    crash_at: Mutex<Option<CrashPoint>>,
    network: Mutex<NetworkFaults>,
    /// The ring driver's clock: the clock-rate fault sets its rate.
    ring_clock: Arc<RingClock>,
    injected: AtomicU64,
}

pub use ringbank_wire::{ActiveFault, FaultsView};

impl Faults {
    pub fn new(bank: &str) -> Faults {
        Faults { bank: bank.to_string(), ..Faults::default() }
    }

    /// Counts and logs one injected fault.
    pub fn record(&self, kind: &str, detail: &str) {
        self.injected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(bank = %self.bank, kind, detail, "fault injected");
    }

    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Drops ring traffic to and from `banks` for `duration`.
    pub fn partition(&self, banks: &[String], duration: Duration) {
        let until = Instant::now() + duration.min(FAULT_DURATION_MAX);
        let mut partitioned = self.partitioned.lock().expect("faults lock");
        for bank in banks {
            partitioned.insert(bank.clone(), until);
        }
        self.record("partition", &format!("{banks:?} for {}", humantime::format_duration(duration)));
    }

    /// Arms a crash at a named protocol point.
    pub fn crash_at(&self, point: CrashPoint) {
        *self.crash_at.lock().expect("faults lock") = Some(point);
        self.record("crash-at", point.as_str());
    }

    /// Called at each named point: if a crash is armed here, the process dies at once
    /// (SIGKILL to itself: no destructor, no flush, exactly like kill -9).
    pub fn crash_point(&self, point: CrashPoint) {
        let armed = *self.crash_at.lock().expect("faults lock") == Some(point);
        if armed {
            tracing::error!(bank = %self.bank, point = point.as_str(), "fault: crashing now");
            kill_self();
        }
    }

    /// The process kills itself with SIGKILL shortly (after the HTTP answer has gone out).
    pub fn crash_soon(&self) {
        self.record("crash", "SIGKILL to itself");
        std::thread::spawn(|| {
            std::thread::sleep(ANSWER_GRACE);
            kill_self();
        });
    }

    /// Freezes the whole process for `duration` (every thread: ring, two-phase commit, API),
    /// then lets it resume with its old state. A forked helper process sleeps and sends
    /// SIGCONT; the bank sends itself SIGSTOP. Nothing in the bank runs meanwhile, exactly as
    /// if an operator had sent SIGSTOP and SIGCONT by hand.
    pub fn pause_soon(&self, duration: Duration) {
        let duration = duration.min(FAULT_DURATION_MAX);
        self.record("pause", &humantime::format_duration(duration).to_string());
        std::thread::spawn(move || {
            std::thread::sleep(ANSWER_GRACE);
            freeze_for(duration);
        });
    }

    /// Adds `delay` plus up to `jitter` before each outgoing ring and 2PC message.
    pub fn delay(&self, delay: Duration, jitter: Duration, duration: Duration) {
        let until = Instant::now() + duration.min(FAULT_DURATION_MAX);
        let value = (delay.min(DELAY_MAX), jitter.min(DELAY_MAX));
        self.network.lock().expect("faults lock").delay = Some(Timed { value, until });
        self.record("delay", &format!("{} jitter {}", humantime::format_duration(value.0), humantime::format_duration(value.1)));
    }

    /// The ring driver's clock (ms since start, at the rate the clock-rate fault sets).
    pub fn ring_clock(&self) -> Arc<RingClock> {
        self.ring_clock.clone()
    }

    /// The ring driver's clock advances `rate` ms per real ms for `duration`, then keeps real
    /// time again; it never jumps. Only the ring's timers and leases see it (the two-phase
    /// commit's and HTTP timeouts keep real time). A restarted process starts at rate 1.
    pub fn clock_rate(&self, rate: ClockRate, duration: Duration) {
        let until = Instant::now() + duration.min(FAULT_DURATION_MAX);
        self.ring_clock.set_rate(rate, Some(until));
        self.record("clock-rate", &format!("x{rate} for {}", humantime::format_duration(duration)));
    }

    /// Drops this share of outgoing ring and 2PC messages.
    pub fn loss(&self, percent: u8, duration: Duration) {
        let until = Instant::now() + duration.min(FAULT_DURATION_MAX);
        self.network.lock().expect("faults lock").loss_percent = Some(Timed { value: percent.min(100), until });
        self.record("loss", &format!("{percent}%"));
    }

    /// Sends this share of outgoing ring and 2PC messages twice.
    pub fn duplicate(&self, percent: u8, duration: Duration) {
        let until = Instant::now() + duration.min(FAULT_DURATION_MAX);
        self.network.lock().expect("faults lock").duplicate_percent = Some(Timed { value: percent.min(100), until });
        self.record("duplicate", &format!("{percent}%"));
    }

    /// Arms the discarding of the token at the next grant (the ring driver also drops a token
    /// it holds right now).
    pub fn arm_drop_token(&self, duration: Duration) {
        let until = Instant::now() + duration.min(FAULT_DURATION_MAX);
        self.network.lock().expect("faults lock").drop_token = Some(Timed { value: (), until });
        self.record("drop-token", "the token is discarded at the next grant");
    }

    /// True once if a token drop is armed (the ring driver calls this at each grant).
    pub fn take_drop_token(&self) -> bool {
        let mut network = self.network.lock().expect("faults lock");
        let armed = Timed::live(&network.drop_token, Instant::now()).is_some();
        network.drop_token = None;
        armed
    }

    /// Decides the fate of one outgoing message (random draws per message).
    pub fn outgoing(&self) -> OutgoingPlan {
        let now = Instant::now();
        let network = self.network.lock().expect("faults lock");
        let chance = |percent: Option<u8>| percent.is_some_and(|p| rand::random::<u8>() % 100 < p);
        let delay = Timed::live(&network.delay, now).map_or(Duration::ZERO, |(delay, jitter)| {
            let jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(0);
            delay + Duration::from_millis(if jitter_ms == 0 { 0 } else { rand::random::<u64>() % (jitter_ms + 1) })
        });
        OutgoingPlan {
            drop: chance(Timed::live(&network.loss_percent, now)),
            delay,
            duplicate: chance(Timed::live(&network.duplicate_percent, now)),
        }
    }

    pub fn heal(&self) {
        *self.crash_at.lock().expect("faults lock") = None;
        self.partitioned.lock().expect("faults lock").clear();
        *self.network.lock().expect("faults lock") = NetworkFaults::default();
        self.ring_clock.set_rate(ClockRate::ONE, None);
        tracing::warn!(bank = %self.bank, "fault: healed");
    }

    pub fn is_partitioned(&self, bank: &str) -> bool {
        let mut partitioned = self.partitioned.lock().expect("faults lock");
        match partitioned.get(bank) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                partitioned.remove(bank);
                false
            }
            None => false,
        }
    }

    pub fn view(&self) -> FaultsView {
        FaultsView { bank: self.bank.clone(), injected: self.injected(), active: self.active() }
    }

    pub fn active(&self) -> Vec<ActiveFault> {
        let now = Instant::now();
        let remaining = |until: Instant| u64::try_from((until - now).as_millis()).unwrap_or(u64::MAX);
        let partitioned = self.partitioned.lock().expect("faults lock");
        let mut list: Vec<ActiveFault> = partitioned
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(bank, until)| ActiveFault {
                kind: "partition".into(),
                bank: bank.clone(),
                detail: format!("traffic to and from {bank} dropped"),
                remaining_ms: remaining(*until),
            })
            .collect();
        drop(partitioned);
        list.sort_by(|a, b| a.bank.cmp(&b.bank));
        let mine = |kind: &str, detail: String, remaining_ms: u64| ActiveFault {
            kind: kind.into(),
            bank: self.bank.clone(),
            detail,
            remaining_ms,
        };
        if let Some(point) = *self.crash_at.lock().expect("faults lock") {
            list.push(mine("crash-at", point.to_string(), 0));
        }
        let network = self.network.lock().expect("faults lock");
        if let Some(t) = network.delay.filter(|t| t.until > now) {
            let detail = format!("{} jitter {}", humantime::format_duration(t.value.0), humantime::format_duration(t.value.1));
            list.push(mine("delay", detail, remaining(t.until)));
        }
        if let Some(t) = network.loss_percent.filter(|t| t.until > now) {
            list.push(mine("loss", format!("{}%", t.value), remaining(t.until)));
        }
        if let Some(t) = network.duplicate_percent.filter(|t| t.until > now) {
            list.push(mine("duplicate", format!("{}%", t.value), remaining(t.until)));
        }
        if let Some(t) = network.drop_token.filter(|t| t.until > now) {
            list.push(mine("drop-token", "armed: the next token granted here is discarded".into(), remaining(t.until)));
        }
        let (rate, until) = self.ring_clock.rate();
        if rate != ClockRate::ONE {
            let detail = format!("the ring clock runs at x{rate} real time");
            list.push(mine("clock-rate", detail, until.map_or(0, remaining)));
        }
        list
    }
}

fn kill_self() {
    // SAFETY: kill(2) on our own pid with SIGKILL.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

/// SIGSTOPs this process for `duration`; a forked child wakes it with SIGCONT.
fn freeze_for(duration: Duration) {
    let sleep = libc::timespec {
        tv_sec: libc::time_t::try_from(duration.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(i32::try_from(duration.subsec_nanos()).unwrap_or(0)),
    };
    // SAFETY: after fork() the child of a multi-threaded process may only call
    // async-signal-safe functions; it calls nanosleep, kill and _exit, nothing else.
    unsafe {
        let parent = libc::getpid();
        let child = libc::fork();
        if child == 0 {
            libc::nanosleep(&sleep, std::ptr::null_mut());
            libc::kill(parent, libc::SIGCONT);
            libc::_exit(0);
        }
        if child < 0 {
            tracing::error!("pause: fork failed; not pausing");
            return;
        }
        libc::kill(parent, libc::SIGSTOP);
        // Resumed: reap the helper.
        let mut status = 0;
        libc::waitpid(child, &mut status, 0);
    }
    tracing::warn!("fault: pause over, resuming");
}
