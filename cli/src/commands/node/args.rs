//! `leanp2p node` flags (CLI.md "`leanp2p node` flags") and their resolution into a
//! validated [`NodePlan`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use leanp2p_host::{Keypair, Multiaddr, TopicHash};
use leanp2p_identity::{keyfile, Enr};

use super::super::CliError;
use super::bootnodes::read_bootnodes_file;
use crate::commands::congestion::Congestion;
use crate::commands::discovery::{default_discovery_port, is_private, DEFAULT_TARGET_PEERS};
use crate::commands::workload::payload;
use crate::commands::workload::serve::{MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};

/// Default listen address (CLI.md).
pub(crate) const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/udp/9001/quic-v1";

/// The gossipsub message-id function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MsgIdKind {
    /// The lean (Ethereum) id: SHA-256 over domain, topic and decoded data, 20 bytes.
    Lean,
    /// The first 20 bytes of SHA-256 of the wire data.
    Sha256,
}

/// How published payloads are encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GossipEncoding {
    /// Snappy block encoding, as Ethereum gossip carries SSZ.
    Snappy,
    /// The bytes as they are (tests).
    Raw,
}

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// QUIC listen address `/ip4|ip6/<addr>/udp/<port>/quic-v1` (repeatable).
    #[arg(long, value_name = "MULTIADDR", default_value = DEFAULT_LISTEN)]
    listen: Vec<String>,
    /// Node-key file (64 hex characters, optional 0x). Default: a fresh key.
    #[arg(long, value_name = "FILE", conflicts_with = "key_hex")]
    node_key: Option<PathBuf>,
    /// The secret key as 64 hex characters (0x optional). Default: a fresh key.
    #[arg(long, value_name = "HEX")]
    key_hex: Option<String>,
    /// Bootnode (`/…/quic-v1/p2p/<id>` or `enr:…`), dialled and redialled forever when it
    /// has a QUIC address; an ENR with `udp` also seeds discovery (repeatable).
    #[arg(long, value_name = "MULTIADDR|ENR")]
    bootnode: Vec<String>,
    /// A lean-quickstart `nodes.yaml`: a YAML list of ENRs and/or multiaddrs (used like
    /// --bootnode).
    #[arg(long, value_name = "FILE")]
    bootnodes: Option<PathBuf>,
    /// UDP port of discovery (discv5; the record's `udp`), on the first --listen IP.
    /// Default: the first --listen port + 1 (0 when that is 0); 0 = any free port.
    #[arg(long, value_name = "PORT")]
    discovery_port: Option<u16>,
    /// No discovery: only bootnodes, --dial and their peers (the behaviour before
    /// discovery).
    #[arg(long, conflicts_with_all = ["discovery_port", "enr_address"])]
    no_discovery: bool,
    /// IP our record advertises (`ip` / `ip6`). Default: the first --listen IP, unless it
    /// is unspecified (0.0.0.0, ::): then the record has no IP and peers cannot find us
    /// through discovery (we still find and dial them).
    #[arg(long, value_name = "IP")]
    enr_address: Option<IpAddr>,
    /// Peers to stay connected to: while fewer are connected, dial peers discovery (or
    /// identify) found. Default 8 with discovery, 0 (off) with --no-discovery.
    #[arg(long, value_name = "N")]
    target_peers: Option<usize>,
    /// Peers we dial (bootnodes, --dial with /p2p) become gossipsub direct peers.
    #[arg(long)]
    direct_peer: bool,
    /// Dial this address once, no redial (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    dial: Vec<String>,
    /// Network segment of lean topics.
    #[arg(long, value_name = "NAME", default_value = "12345678")]
    network: String,
    /// Topic to subscribe to: a full topic, or `block`, `aggregation`, `attestation_<n>`
    /// (repeatable; default block + aggregation).
    #[arg(long, value_name = "T")]
    topic: Vec<String>,
    /// Gossipsub message id: lean, or sha256 (first 20 bytes of SHA-256 of the wire data).
    #[arg(long, value_enum, default_value = "lean")]
    msg_id: MsgIdKind,
    /// Payload encoding of published and received gossip.
    #[arg(long, value_enum, default_value = "snappy")]
    gossip_encoding: GossipEncoding,
    /// Serve Prometheus text at http://HOST:PORT/metrics.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// One JSON object per line on stdout instead of logs on stderr.
    #[arg(long)]
    json: bool,
    /// Hard limit on the run time, in seconds.
    #[arg(long, value_name = "S")]
    run_secs: Option<f64>,
    /// Messages to publish (0 = none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    publish_count: u64,
    /// Size of each published payload before encoding (at least 16).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    publish_size: usize,
    /// Pause between publishes (0 = back-to-back).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    publish_interval_ms: u64,
    /// Topic to publish on (full or short form; default: the first subscribed topic).
    #[arg(long, value_name = "T")]
    publish_topic: Option<String>,
    /// Wait until the publish topic has this many mesh or direct peers (0 = no wait).
    #[arg(long, value_name = "N", default_value_t = 1)]
    publish_min_peers: usize,
    /// Longest wait for --publish-min-peers before publishing anyway.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    publish_wait_max_ms: u64,
    /// Gossip messages to receive; fewer gives exit code 3 (0 = no expectation).
    #[arg(long, value_name = "N")]
    expect_messages: Option<u64>,
    /// Exit (after --linger-ms) once publishing and --expect-messages are done.
    #[arg(long)]
    exit_when_done: bool,
    /// Time to keep running after done, so the last messages propagate.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    linger_ms: u64,
    /// No `gossip` line per received message (counters still run).
    #[arg(long)]
    quiet_gossip: bool,
    /// Send a status request to every peer once connected.
    #[arg(long)]
    request_status_to_all: bool,
    /// Send every peer one blocks_by_root request for N roots (0..=1024; 0 = no request).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1024))]
    request_blocks: Option<u32>,
    /// Block size announced in the requested roots (for --request-blocks).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    block_size: usize,
    /// QUIC congestion controller.
    #[arg(long, value_enum, default_value_t = Congestion::default())]
    congestion: Congestion,
    /// Answer blocks_by_root for any root with a block of this size that starts with the
    /// root (without it: the size in root bytes 0..4, at most 1 MiB).
    #[arg(long, value_name = "BYTES")]
    serve_block_size: Option<usize>,
}

/// The validated plan of a `node` run.
#[derive(Debug)]
pub(crate) struct NodePlan {
    pub key: Keypair,
    /// Topic network segment (scoring uses its lean topic weights).
    pub network: String,
    /// QUIC congestion controller.
    pub congestion: Congestion,
    pub listen: Vec<SocketAddr>,
    /// Bootnodes with a QUIC address (dialled and redialled).
    pub bootnodes: Vec<Multiaddr>,
    /// Discovery, unless `--no-discovery`.
    pub discovery: Option<DiscoveryPlan>,
    /// `ConnManagerConfig::target_peers`.
    pub target_peers: usize,
    pub dial: Vec<Multiaddr>,
    pub topics: Vec<TopicHash>,
    pub direct_peer: bool,
    pub msg_id: MsgIdKind,
    pub encoding: GossipEncoding,
    pub json: bool,
    pub metrics_addr: Option<SocketAddr>,
    pub run_for: Option<Duration>,
    pub publish: Option<PublishPlan>,
    pub expect_messages: Option<u64>,
    pub exit_when_done: bool,
    pub linger: Duration,
    pub quiet_gossip: bool,
    pub request_status_to_all: bool,
    pub request_blocks: Option<u32>,
    pub block_size: usize,
    pub serve_block_size: Option<usize>,
}

/// Where discovery runs and whom it asks first.
#[derive(Debug)]
pub(crate) struct DiscoveryPlan {
    /// The discovery socket's address (the first --listen IP, --discovery-port).
    pub bind: SocketAddr,
    /// The IP our record advertises.
    pub advertise: Option<IpAddr>,
    /// Bootnode records with a UDP endpoint.
    pub bootnodes: Vec<Enr>,
    /// The table's per-/24 limits are off: the advertised IP (or, without one, every
    /// bootnode's) is loopback or private.
    pub private_network: bool,
}

/// One `--bootnode` / `nodes.yaml` entry: a QUIC address to dial and/or a record to
/// seed discovery with.
#[derive(Debug)]
struct Bootnode {
    quic: Option<Multiaddr>,
    record: Option<Enr>,
}

/// What to publish.
#[derive(Debug, Clone)]
pub(crate) struct PublishPlan {
    pub topic: TopicHash,
    pub count: u64,
    pub size: usize,
    pub interval: Duration,
    pub min_peers: usize,
    pub wait_max: Duration,
}

impl NodeArgs {
    /// Checks every flag and loads the key and the bootnodes file.
    pub(crate) fn resolve(&self) -> Result<NodePlan, CliError> {
        let key = match (&self.node_key, &self.key_hex) {
            (Some(path), _) => keyfile::read_node_key(path)?,
            (None, Some(hex)) => keyfile::parse_node_key(hex)?,
            (None, None) => Keypair::generate(&mut rand_core::OsRng),
        };
        let listen = self
            .listen
            .iter()
            .map(|text| parse_listen(text))
            .collect::<Result<Vec<_>, _>>()?;
        let discovery_on = !self.no_discovery;
        let mut entries = self
            .bootnode
            .iter()
            .map(|text| parse_bootnode(text, discovery_on))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(path) = &self.bootnodes {
            entries.extend(usable_bootnodes(
                path,
                read_bootnodes_file(path)?,
                discovery_on,
            )?);
        }
        let mut bootnodes = Vec::new();
        let mut records = Vec::new();
        for entry in entries {
            bootnodes.extend(entry.quic);
            records.extend(entry.record);
        }
        let discovery = if discovery_on {
            Some(self.discovery_plan(&listen, records)?)
        } else {
            None
        };
        let target_peers = self.target_peers.unwrap_or(if discovery_on {
            DEFAULT_TARGET_PEERS
        } else {
            0
        });
        let dial = self
            .dial
            .iter()
            .map(|text| parse_quic_multiaddr(text, "--dial"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut topics = Vec::new();
        for text in &self.topic {
            let topic = expand_topic(text, &self.network)?;
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        if topics.is_empty() {
            topics = leanp2p_host::lean::topics(&self.network, 0);
        }
        let block_range = MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE;
        for (flag, size) in [
            ("--block-size", Some(self.block_size)),
            ("--serve-block-size", self.serve_block_size),
        ] {
            if let Some(size) = size.filter(|s| !block_range.contains(s)) {
                return Err(CliError::BadFlag(format!(
                    "{flag} {size}: must be within {}..={}",
                    block_range.start(),
                    block_range.end()
                )));
            }
        }
        let run_for = match self.run_secs {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                return Err(CliError::BadFlag(format!(
                    "--run-secs must be a positive number, got {s}"
                )))
            }
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => None,
        };
        let publish = if self.publish_count > 0 {
            if self.publish_size < payload::HEADER_LEN {
                return Err(CliError::BadFlag(format!(
                    "--publish-size must be at least {} bytes",
                    payload::HEADER_LEN
                )));
            }
            if self.publish_size > leanp2p_host::lean::MAX_PAYLOAD_SIZE {
                return Err(CliError::BadFlag(format!(
                    "--publish-size must be at most {} bytes",
                    leanp2p_host::lean::MAX_PAYLOAD_SIZE
                )));
            }
            let topic = match &self.publish_topic {
                Some(text) => expand_topic(text, &self.network)?,
                None => topics[0].clone(),
            };
            Some(PublishPlan {
                topic,
                count: self.publish_count,
                size: self.publish_size,
                interval: Duration::from_millis(self.publish_interval_ms),
                min_peers: self.publish_min_peers,
                wait_max: Duration::from_millis(self.publish_wait_max_ms),
            })
        } else {
            None
        };
        Ok(NodePlan {
            network: self.network.clone(),
            congestion: self.congestion,
            key,
            listen,
            bootnodes,
            discovery,
            target_peers,
            dial,
            topics,
            direct_peer: self.direct_peer,
            msg_id: self.msg_id,
            encoding: self.gossip_encoding,
            json: self.json,
            metrics_addr: self.metrics_addr,
            run_for,
            publish,
            expect_messages: self.expect_messages.filter(|&n| n > 0),
            exit_when_done: self.exit_when_done,
            linger: Duration::from_millis(self.linger_ms),
            quiet_gossip: self.quiet_gossip,
            request_status_to_all: self.request_status_to_all,
            // Every count flag takes 0 as "none" (harnesses pass `--request-blocks 0`).
            request_blocks: self.request_blocks.filter(|&n| n > 0),
            block_size: self.block_size,
            serve_block_size: self.serve_block_size,
        })
    }
}

impl NodeArgs {
    /// The discovery socket on the first --listen IP, the advertised IP and the limits.
    fn discovery_plan(
        &self,
        listen: &[SocketAddr],
        bootnodes: Vec<Enr>,
    ) -> Result<DiscoveryPlan, CliError> {
        let first = listen
            .first()
            .ok_or_else(|| CliError::BadFlag("--listen: at least one address".into()))?;
        let port = match self.discovery_port {
            Some(port) => port,
            None => default_discovery_port(first.port()).ok_or_else(|| {
                CliError::BadFlag(format!(
                    "--listen port {} leaves no default discovery port: pass --discovery-port",
                    first.port()
                ))
            })?,
        };
        if port != 0
            && listen
                .iter()
                .any(|l| l.port() == port && l.ip() == first.ip())
        {
            return Err(CliError::BadFlag(format!(
                "--discovery-port {port} is a QUIC --listen port (both are UDP)"
            )));
        }
        let advertise = self
            .enr_address
            .or_else(|| Some(first.ip()).filter(|ip| !ip.is_unspecified()));
        if advertise.is_some_and(|ip| ip.is_ipv4() != first.is_ipv4()) {
            return Err(CliError::BadFlag(
                "--enr-address must be of the first --listen address's family".into(),
            ));
        }
        let private_network = match advertise {
            Some(ip) => is_private(ip),
            None => {
                !bootnodes.is_empty()
                    && bootnodes.iter().all(|b| {
                        leanp2p_discv5::udp_endpoint(b).is_some_and(|a| is_private(a.ip()))
                    })
            }
        };
        Ok(DiscoveryPlan {
            bind: SocketAddr::new(first.ip(), port),
            advertise,
            bootnodes,
            private_network,
        })
    }
}

/// A `/ip4|ip6/…/udp/…/quic-v1` multiaddr (with an optional `/p2p/…`).
fn parse_quic_multiaddr(text: &str, flag: &str) -> Result<Multiaddr, CliError> {
    let bad = |reason: String| CliError::BadFlag(format!("{flag} {text}: {reason}"));
    let addr: Multiaddr = text.trim().parse().map_err(|e| bad(format!("{e}")))?;
    addr.to_quic_v1_target().map_err(|e| bad(format!("{e}")))?;
    Ok(addr)
}

fn parse_listen(text: &str) -> Result<SocketAddr, CliError> {
    let addr = parse_quic_multiaddr(text, "--listen")?;
    match addr.to_quic_v1_target() {
        Ok((socket, None)) => Ok(socket),
        Ok((_, Some(_))) => Err(CliError::BadFlag(format!(
            "--listen {text}: no /p2p part allowed"
        ))),
        Err(e) => Err(CliError::BadFlag(format!("--listen {text}: {e}"))),
    }
}

/// The usable entries of a `nodes.yaml`: an entry without a usable QUIC address
/// (leanSpec's sample ENRs carry only `udp`) is skipped with a warning on stderr unless
/// discovery can use its `udp`; an error only when the file lists entries and none is
/// usable.
fn usable_bootnodes(
    path: &std::path::Path,
    entries: Vec<String>,
    discovery: bool,
) -> Result<Vec<Bootnode>, CliError> {
    let mut usable = Vec::new();
    let mut last_error = None;
    for entry in &entries {
        match parse_bootnode(entry, discovery) {
            Ok(addr) => usable.push(addr),
            Err(e) => {
                eprintln!(
                    "leanp2p: warning: --bootnodes {}: skipping {e}",
                    path.display()
                );
                last_error = Some(e);
            }
        }
    }
    match last_error {
        Some(e) if usable.is_empty() => Err(CliError::BadFlag(format!(
            "--bootnodes {}: no usable entry ({e})",
            path.display()
        ))),
        _ => Ok(usable),
    }
}

/// An `enr:…` record (mapped to its QUIC multiaddr, and kept for discovery when
/// `discovery` is on and it has a UDP endpoint; one of the two is required) or a
/// multiaddr with `/p2p/<id>`.
fn parse_bootnode(text: &str, discovery: bool) -> Result<Bootnode, CliError> {
    let text = text.trim();
    if text.starts_with("enr:") {
        let enr: Enr = text
            .parse()
            .map_err(|e| CliError::BadFlag(format!("bootnode {text}: {e}")))?;
        let quic = enr.to_quic_multiaddr();
        let record = (discovery && leanp2p_discv5::udp_endpoint(&enr).is_some()).then_some(enr);
        return match (quic, record) {
            (Err(e), None) => Err(CliError::BadFlag(format!("bootnode {text}: {e}"))),
            (quic, record) => Ok(Bootnode {
                quic: quic.ok(),
                record,
            }),
        };
    }
    let addr = parse_quic_multiaddr(text, "bootnode")?;
    if addr.peer_id().is_none() {
        return Err(CliError::BadFlag(format!(
            "bootnode {text}: a /p2p/<peer-id> part is required"
        )));
    }
    Ok(Bootnode {
        quic: Some(addr),
        record: None,
    })
}

/// A full topic (starting with `/`) as given, or a short lean kind expanded to
/// `/leanconsensus/<network>/<kind>/ssz_snappy`.
fn expand_topic(text: &str, network: &str) -> Result<TopicHash, CliError> {
    if text.starts_with('/') {
        return Ok(TopicHash::new(text));
    }
    let full = format!("/leanconsensus/{network}/{text}/ssz_snappy");
    leanp2p_host::lean::LeanTopic::parse(&full, network)
        .map(|topic| topic.hash())
        .map_err(|e| {
            CliError::BadFlag(format!(
                "--topic {text}: not a full topic nor block|aggregation|attestation_<n> ({e})"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_topics_expand_and_bad_ones_fail() {
        assert_eq!(
            expand_topic("attestation_3", "devnet0").unwrap().as_str(),
            "/leanconsensus/devnet0/attestation_3/ssz_snappy"
        );
        assert_eq!(expand_topic("/x/y", "n").unwrap().as_str(), "/x/y");
        assert!(expand_topic("blocks", "n").is_err());
    }

    #[derive(Debug, clap::Parser)]
    struct Cmd {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn plan(args: &[&str]) -> Result<NodePlan, String> {
        use clap::Parser;
        let cmd = Cmd::try_parse_from(["node"].iter().chain(args)).map_err(|e| e.to_string())?;
        cmd.node.resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn every_count_flag_accepts_zero_as_none() {
        let zeros = plan(&[
            "--request-blocks",
            "0",
            "--publish-count",
            "0",
            "--expect-messages",
            "0",
            "--publish-interval-ms",
            "0",
            "--linger-ms",
            "0",
        ])
        .unwrap();
        assert_eq!(zeros.request_blocks, None);
        assert!(zeros.publish.is_none());
        assert_eq!(zeros.expect_messages, None);
        assert_eq!(zeros.linger, Duration::ZERO);
        let no_wait = plan(&["--publish-count", "1", "--publish-min-peers", "0"]).unwrap();
        assert_eq!(no_wait.publish.unwrap().min_peers, 0);
        let most = plan(&["--request-blocks", "1024"]).unwrap();
        assert_eq!(most.request_blocks, Some(1024));
        assert!(plan(&["--request-blocks", "1025"]).is_err());
    }

    #[test]
    fn unusable_nodes_yaml_entries_are_skipped_unless_none_is_usable() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let peer = Keypair::generate(&mut rng).peer_id();
        let good = format!("/ip4/127.0.0.1/udp/9000/quic-v1/p2p/{peer}");
        let bad = "enr:-not-a-record".to_string();
        let path = std::path::Path::new("nodes.yaml");
        let usable = usable_bootnodes(path, vec![bad.clone(), good], true).unwrap();
        assert_eq!(usable.len(), 1);
        assert!(usable_bootnodes(path, vec![bad], true).is_err());
        assert!(usable_bootnodes(path, Vec::new(), true).unwrap().is_empty());
    }

    #[test]
    fn listen_accepts_only_quic_v1() {
        assert!(parse_listen("/ip4/127.0.0.1/udp/0/quic-v1").is_ok());
        assert!(parse_listen("/ip4/127.0.0.1/tcp/9000").is_err());
        assert!(parse_listen("not-a-multiaddr").is_err());
    }
}
