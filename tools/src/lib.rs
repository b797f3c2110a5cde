//! ringbank's operator tools, on the typed client (`ringbank-client`) and never on the server's
//! code: a local ring of `ringbank serve` processes and its supervisor (`up`), the load and
//! fault experiments (`chaos`, `bench`, `bench-ring`), one fault at a time (`fault`) and the
//! audit across live banks. The `ringbank` binary parses the command line and calls `run` here.

pub mod args; // the clap arguments of up, bench, bench-ring, fault and chaos
pub mod bench; // `ringbank bench`: load generator for transfers, latency and throughput
pub mod bench_ring; // `ringbank bench-ring`: idle cost, token passes and failover of the ring
pub mod chaos; // `ringbank chaos`: random load under a seeded fault schedule, then every invariant
pub mod chaos_membership; // chaos: spare banks join, are killed and leave the running ring on a seeded plan
pub mod chaos_settle; // chaos: a spare carries customers' money while a member and settles before it leaves
pub mod consortium_audit; // checks across live banks: same outcomes, mirrored settlement, money conserved
pub mod fault_cli; // `ringbank fault`: one fault into a running bank through its admin API
pub mod local_ring; // LocalRing: bank processes on loopback ports, started, killed and stopped
pub mod members_cli; // `ringbank members`: the member list at one bank, and membership changes through it
pub mod supervisor; // restarts crashed banks of a LocalRing; `up`'s control endpoint
pub mod up; // `ringbank up`: a local consortium under a supervisor until Ctrl-C
