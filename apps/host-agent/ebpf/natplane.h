/* Map keys and values shared by the programs (natplane.bpf.c) and the loader (loader.c).
 * Addresses and ports are in network byte order, as on the wire. See docs/ebpf-backend.md. */
#ifndef NATPLANE_H
#define NATPLANE_H

#define NP_REASONS 4 /* OUT_OF_RESOURCES, ENDPOINT_INDEPENDENT_CONFLICT, UNTRANSLATABLE_FRAGMENT, UNTRANSLATABLE_PROTOCOL */
#define NP_DROP_OOR 0
#define NP_DROP_EIC 1
#define NP_DROP_FRAG 2
#define NP_DROP_PROTO 3

/* np_src (LPM): (device, source) -> endpoint slot. prefixlen = 32 + CIDR length: the device is
 * always matched whole. ifkey 0: endpoints without a hostInterface. */
struct np_src_key { __u32 prefixlen; __u32 ifkey; __u32 addr; };
struct np_src_val { __u32 slot; __u32 gw; };

/* np_dst (LPM): (gateway, destination) -> rule number; the first matching rule, resolved by the
 * agent (each prefix carries the smallest rule number among the prefixes containing it). */
struct np_dst_key { __u32 prefixlen; __u32 gw; __u32 addr; };

/* np_ssrc (LPM): (endpoint slot, source) -> the first source-based rule that applies to that
 * source of the endpoint, resolved by the agent like np_dst; fwd = 1: a range the VM forwards
 * from, which only source rules translate (never a destination rule or the default IPs).
 * prefixlen = 32 + CIDR length: the slot is always matched whole. */
struct np_ssrc_key { __u32 prefixlen; __u32 slot; __u32 addr; };
struct np_ssrc_val { __s32 rule; __u32 fwd; };

/* np_blk: (slot, rule) -> the active block and the gateway's settings. */
struct np_blk_key { __u32 slot; __s32 rule; };
struct np_blk_val {
	__u32 nat_ip;
	__u16 lo, hi;        /* host byte order; lo = hi = 0: no ports on this rule (fail closed) */
	__u32 eim;           /* 1: endpoint-independent mapping; NP_BLK_PASS: see below */
	__u32 timeout[5];    /* seconds: udp, icmp, tcp established, tcp transitory, tcp time-wait */
	__u64 since_ms;      /* the agent's: when this pair's counters started (not read by the programs) */
};

/* np_blk_val.eim == NP_BLK_PASS on an endpoint's DEFAULT_RULE entry: a gateway whose unmatched
 * flows pass (a PRIVATE gateway): a flow no rule matches leaves untranslated. */
#define NP_BLK_PASS 2

/* np_ids: the agent's numbers, kept with the maps across agent restarts. Key: a 128-bit hash
 * (idKey in apps/host-agent/src/ebpf/maps.ts) of "e\0" gateway "\0" endpoint (an endpoint slot),
 * of "g\0" gateway (a gateway number), or of "h" (num 0: the host counters' start). The first
 * agents keyed it by the first 16 bytes of sha256 of the same names: a restarted agent still
 * recognizes those. */
struct np_ids_key { __u8 id[16]; };
struct np_ids_val { __u32 num; __u32 pad; __u64 since_ms; };

/* np_occ: ports taken from one block and protocol (by the programs), np_freed: ports given back
 * (by the loader's sweep); in use = used - freed, for an O(1) refusal when the block is full. */
struct np_occ_key { __u32 nat_ip; __u16 lo; __u8 proto; __u8 pad; };
struct np_occ_val { __u32 used; __u32 cursor; };

/* np_flow: egress key -> the mapping. EIM flows have daddr = dport = 0. */
struct np_flow_key { __u32 ifkey; __u32 saddr; __u32 daddr; __u16 sport; __u16 dport; __u8 proto; __u8 pad[3]; };
struct np_flow_val { __u32 nat_ip; __u16 nat_port; __u16 blk_lo; __u32 slot; __s32 rule; };

/* np_port: (NAT IP, NAT port, proto) -> its owner (one per NAT port and protocol). */
struct np_port_key { __u32 nat_ip; __u16 nat_port; __u8 proto; __u8 pad; };
struct np_port_val { struct np_flow_key flow; __u16 blk_lo; __u16 pad; __u32 slot; __s32 rule; __u64 last_seen; };

/* np_rev: inbound key (one per remote the mapping talked to) -> the VM. */
struct np_rev_key { __u32 nat_ip; __u32 raddr; __u16 nat_port; __u16 rport; __u8 proto; __u8 pad[3]; };
#define NP_TCP_SYN 1
#define NP_TCP_EST 2
#define NP_TCP_FIN 4
#define NP_TCP_RST 8
#define NP_TCP_IN 16  /* the remote answered */
struct np_rev_val { __u32 ifkey; __u32 vaddr; __u16 vport; __u16 state; __u32 slot; __s32 rule; __u64 last_seen; };

/* np_frag: later fragments of an inbound datagram whose first fragment was translated. */
struct np_frag_key { __u32 saddr; __u32 daddr; __u16 id; __u8 proto; __u8 pad; };
struct np_frag_val { __u32 ifkey; __u32 vaddr; __u64 last_seen; };

/* np_cnt (per CPU): (slot, rule) -> counters. */
struct np_cnt_val {
	__u64 new_flows, sent_pkts, sent_bytes, recv_pkts, recv_bytes;
	__u64 drops[NP_REASONS];
};
/* np_host (per-CPU array): 0 unsolicited, 1 fragments without their first. */

#endif
