//! Fills a store with N container registries through the library API (the code path of
//! `zenreg container-registry register`), for benchmarks: `fill_store STORE N`.
//!
//! Names are `registry-00001`…; flavors, URIs and labels vary so listings look like real ones.

use std::process::ExitCode;
use zenreg_aws_config as _;
use zenreg_core::ComponentType;
use zenreg_store::Client;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(store), Some(count)) = (args.next(), args.next().and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: fill_store STORE N");
        return ExitCode::from(2);
    };
    let mut client = match Client::open(&store) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let first = client.components(ComponentType::ContainerRegistry, None).map_or(0, |c| c.len());
    for i in first..first + count {
        let (flavor, uri) = match i % 4 {
            0 => ("default", format!("localhost:{}", 5000 + i % 1000)),
            1 => ("github", format!("ghcr.io/org-{i}")),
            2 => ("dockerhub", format!("docker.io/user{i}")),
            _ => ("aws", format!("{:012}.dkr.ecr.eu-west-1.amazonaws.com", 100_000_000_000u64 + i as u64)),
        };
        let config = serde_json::json!({ "uri": uri, "default_repository": format!("team-{}/app", i % 17) });
        let labels = [("team".to_string(), format!("t{}", i % 13)), ("env".to_string(), "bench".to_string())].into();
        let name = format!("registry-{i:05}");
        if let Err(error) = client.register_component(
            ComponentType::ContainerRegistry,
            &name,
            flavor,
            config.as_object().cloned().unwrap_or_default(),
            labels,
        ) {
            eprintln!("error: {name}: {error}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!("{store}: {} container registries", first + count);
    ExitCode::SUCCESS
}
