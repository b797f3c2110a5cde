//! `ringbank bench`: placeholder replaced below.
pub async fn run(_args: crate::config::BenchArgs) -> Result<bool, String> { Err("not yet".into()) }
