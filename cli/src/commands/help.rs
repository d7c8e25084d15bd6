//! The output sections of `--help` (what each command prints, field by field). The same
//! text, with more words, is the repository's CLI reference, `docs/CLI.md`; change both.

/// `leanp2p node --help`: the JSON event lines.
pub(crate) const NODE_OUTPUT: &str = "\
Output with --json: one JSON object per line on stdout, \"event\" first, then \"t_ms\" (ms
since start), then the fields in this order:
  started          peer_id, key_type, agent
  metrics          addr (http://HOST:PORT/metrics; with --metrics-addr)
  listening        addr (…/quic-v1/p2p/<peer_id>), peer_id
  discovery        addr (discv5 socket), enr (our record), bootnodes, target_peers
  dialing          addr, bootnode (bool)
  connected        peer, addr, direction (inbound|outbound)
  disconnected     peer, reason, label (short reason: remote_close, local_close, timeout, …)
  subscribed       topic, peer (absent for our own), local (bool)   [also unsubscribed]
  identify         peer, agent, protocol_version, protocols
  ping             peer, rtt_ms
  publish_start    topic, mesh_peers, ready, count, size, interval_ms
  publish_done     topic, published, errors, bytes
  gossip           topic, size, decoded_size, from, msg_id (hex), latency_ms (or null), seq
  rpc_request_out  protocol, peer, roots (blocks_by_root)
  rpc_request_in   protocol, peer
  rpc_response     protocol, peer, ok, chunks, bytes, root_mismatch (blocks_by_root), error
  error            where, error, and peer / addr / topic / seq when known
  done             linger_ms
  summary          peer_id, exit_code, connections_established, connections_closed,
                   published, publish_errors, publish_backpressured, gossip_received,
                   gossip_received_bytes,
                   latency_ms {n,min,p50,p90,p99,max} or null, recv_mb_per_s, cpu_user_s,
                   cpu_sys_s, max_rss_kib, elapsed_s, rpc {status_ok, status_failed,
                   status_served, blocks_requests_ok, blocks_requests_failed,
                   blocks_chunks_received, blocks_bytes_received, blocks_root_mismatch,
                   blocks_requests_served}, output_lines_dropped,
                   discovery {table, found, addresses_fed, lookups} or null
Without --json: logs on stderr (RUST_LOG; DEBUG_QUIC=1 for the QUIC layer).
--metrics-addr serves OpenMetrics text at /metrics (lean_* and leanp2p_* series).
Exit codes: 0 every requested action succeeded, 3 a target was missed, 2 bad arguments.
Reference: docs/CLI.md";

/// `leanp2p devnet --help` / `leanp2p sim --help`: the summary.
pub(crate) const WORKLOAD_OUTPUT: &str = "\
Output: a progress line on stderr, then a table on stdout; with --json instead one line
{\"event\":\"summary\",\"t_ms\":…} with: nodes, published, expected_deliveries, delivered,
delivery_ratio, duplicates, latency_ms {n,p50,p90,p99,max}, block_latency_ms,
attestation_latency_ms, publish_errors, slots, slot_ms, block_size, attestation_size,
gossip_received_bytes, recv_mb_per_s, blocks_served, stores_equal, sync_ok, sync {node, ok,
synced_ms, status_ok, blocks_by_range_requests, blocks_by_range_blocks,
blocks_by_root_requests, blocks_by_root_blocks, requests_failed, blocks, reference_blocks}
or null, cpu_user_s, cpu_sys_s, max_rss_kib, per_node [{node, peer_id, late_joiner,
published, expected, delivered, duplicates, latency_ms, recv_mb_per_s, blocks, peers}],
wall_s; devnet adds seed, interrupted, exit_code, io {datagrams_sent, send_calls,
datagrams_received, wakeups}, min_connected_peers, discovery {bootnode, target_peers,
min_discovered_connected, per_node [{node, discovered, connected_peers,
discovered_connected, lookups, addresses_fed}]} or null (--no-discovery); sim adds
virtual_s, trace_hash, seed, loss, link_latency_ms, link_jitter_ms, datagrams_delivered,
datagrams_lost, exit_code, and min_connected_peers and discovery as devnet.
--report FILE.html writes one self-contained page of SVG charts and their JSON data.
Exit codes: 0 every message delivered once and the late joiner synced, 3 otherwise, 2 bad
arguments. Reference: docs/CLI.md";

/// `leanp2p perf --help`: the result object.
pub(crate) const PERF_OUTPUT: &str = "\
Output: one JSON line {\"event\":\"result\",\"t_ms\":…} with: workload, ok, bytes, elapsed_s,
mb_per_s (1e6 bytes/s), msgs_per_s (gossip, else null), cpu_s, cpu_user_s, cpu_sys_s,
max_rss_kib; bulk: direction, streams, streams_completed, uploaded, downloaded; gossip: size,
count, published, received, publish_errors, window; both: wall_s, errors (when not ok),
cpu_threads_s {role: s}, cpu_bound_mb_per_s (MB per CPU second of the busiest reactor
thread), datagrams_sent, send_calls, datagrams_per_send_call, gso_batches, gso_refused,
datagrams_received, recv_calls, gro_batches, send_would_block, send_errors, wakeups,
gso_segments, kernel_gso_segments, kernel_gro_segments, sndbuf_bytes, rcvbuf_bytes,
lost_packets, rtt_ms, cwnd, path {role: {rtt_ms, min_rtt_ms, cwnd, congestion_events,
lost_packets, lost_bytes, sent_packets, datagrams_sent, bytes_sent, mtu}}.
--server first prints {\"event\":\"listening\",\"t_ms\":…,\"addr\":…,\"peer_id\":…} and at the
end a result with workload \"server\", streams_served, streams_failed, uploaded, downloaded,
signalled. Exit codes: 0 completed, 3 not (failure or --run-secs), 2 bad arguments.
Reference: docs/CLI.md";
