// SPDX-License-Identifier: GPL-2.0
/* natplane's eBPF datapath: per-VM source NAT into port blocks at the uplink's TCX hooks.
 * np_egress translates what the VMs send (SNAT), np_ingress the answers (reverse). Maps are
 * pinned by name (the loader's pin directory), so replacing the programs keeps the flows.
 * See docs/ebpf-backend.md. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "natplane.h"

#define ETH_P_IP 0x0800
#define ETH_HLEN 14
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define BPF_F_PSEUDO_HDR_ (1ULL << 4)
#define BPF_F_MARK_MANGLED_0_ (1ULL << 5)
#define DEFAULT_RULE (-1)

#define PINNED __uint(pinning, LIBBPF_PIN_BY_NAME)

struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 262144); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_src_key); __type(value, struct np_src_val); PINNED; } np_src SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, __u32); PINNED; } np_named SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 65536); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_dst_key); __type(value, __s32); PINNED; } np_dst SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 65536); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_ssrc_key); __type(value, struct np_ssrc_val); PINNED; } np_ssrc SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 262144); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_blk_key); __type(value, struct np_blk_val); PINNED; } np_blk SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 524288); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_occ_key); __type(value, struct np_occ_val); PINNED; } np_occ SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 524288); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_occ_key); __type(value, __u32); PINNED; } np_freed SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1048576); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_flow_key); __type(value, struct np_flow_val); PINNED; } np_flow SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1048576); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_port_key); __type(value, struct np_port_val); PINNED; } np_port SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1048576); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_rev_key); __type(value, struct np_rev_val); PINNED; } np_rev SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 65536);
	 __type(key, struct np_frag_key); __type(value, struct np_frag_val); PINNED; } np_frag SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 524288); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct np_ids_key); __type(value, struct np_ids_val); PINNED; } np_ids SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536); __type(key, __u32); __type(value, __u32); PINNED; } np_natip SEC(".maps");
/* preallocated: per-CPU elements allocated one by one ran out of memory at ~45,000 here */
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 131072);
	 __type(key, struct np_blk_key); __type(value, struct np_cnt_val); PINNED; } np_cnt SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, __u64); PINNED; } np_host SEC(".maps");

struct l4 {
	__u32 off;       /* offset of the L4 header */
	__u32 csum_off;  /* offset of its checksum */
	__u32 port_off;  /* offset of the translated port (source on egress, destination on ingress) */
	__u16 sport, dport;
	__u8 tcp_flags;  /* FIN 1, SYN 2, RST 4, ACK 16 */
	__u8 ok;
};

/* Reads the L4 ports (ICMP echo: the id as both). ok = 0: a protocol or ICMP type not translated. */
static __always_inline int parse_l4(struct __sk_buff *skb, struct iphdr *ip, void *end, __u32 off, int egress, struct l4 *r)
{
	void *p = (void *)(long)skb->data + off;
	r->off = off;
	r->ok = 0;
	r->tcp_flags = 0;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *t = p;
		if ((void *)(t + 1) > end) return -1;
		r->sport = t->source; r->dport = t->dest;
		r->csum_off = off + 16;
		r->port_off = off + (egress ? 0 : 2);
		r->tcp_flags = ((__u8 *)t)[13];
		r->ok = 1;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *u = p;
		if ((void *)(u + 1) > end) return -1;
		r->sport = u->source; r->dport = u->dest;
		r->csum_off = off + 6;
		r->port_off = off + (egress ? 0 : 2);
		r->ok = 1;
	} else if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *c = p;
		if ((void *)(c + 1) > end) return -1;
		if ((egress && c->type == 8) || (!egress && c->type == 0)) {
			r->sport = c->un.echo.id; r->dport = 0;
			if (!egress) { r->dport = c->un.echo.id; r->sport = 0; }
			r->csum_off = off + 2;
			r->port_off = off + 4;
			r->ok = 1;
		}
	}
	return 0;
}

/* Rewrites one address (saddr or daddr) and one port with incremental checksums. */
static __always_inline int rewrite(struct __sk_buff *skb, __u8 proto, struct l4 *l, __u32 addr_off, __u32 old_ip, __u32 new_ip, __u16 old_port, __u16 new_port)
{
	__u64 mangle = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0_ : 0;
	if (proto != IPPROTO_ICMP && bpf_l4_csum_replace(skb, l->csum_off, old_ip, new_ip, BPF_F_PSEUDO_HDR_ | mangle | 4)) return -1;
	if (old_port != new_port) {
		if (bpf_l4_csum_replace(skb, l->csum_off, old_port, new_port, mangle | 2)) return -1;
		if (bpf_skb_store_bytes(skb, l->port_off, &new_port, 2, 0)) return -1;
	}
	if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), old_ip, new_ip, 4)) return -1;
	return bpf_skb_store_bytes(skb, addr_off, &new_ip, 4, 0);
}

struct probe_ctx {
	struct np_port_key pk;
	struct np_port_val pv;
	__u32 start, size;
	__u16 lo;
	__u16 found;
	__u32 idx;
};

static long probe_port(__u32 i, void *data)
{
	struct probe_ctx *c = data;
	__u32 idx = c->start + i;
	if (idx >= c->size) idx -= c->size;
	c->pk.nat_port = bpf_htons((__u16)(c->lo + idx));
	if (bpf_map_update_elem(&np_port, &c->pk, &c->pv, BPF_NOEXIST) == 0) {
		c->found = 1;
		c->idx = idx;
		return 1;
	}
	return 0;
}

static __always_inline void count_drop(struct np_cnt_val *cnt, int reason)
{
	if (cnt) cnt->drops[reason & 3] += 1;
}

static __always_inline __u64 l3_bytes(struct __sk_buff *skb, __u32 hdrs)
{
	__u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	return (__u64)(skb->len - ETH_HLEN) + (__u64)(segs - 1) * hdrs;
}

SEC("tc")
int np_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > end || ip->ihl < 5) return TC_ACT_OK;

	__u32 iif = skb->ingress_ifindex;
	__u32 ifkey = bpf_map_lookup_elem(&np_named, &iif) ? iif : 0;
	struct np_src_key sk = { .prefixlen = 64, .ifkey = ifkey, .addr = ip->saddr };
	struct np_src_val *src = bpf_map_lookup_elem(&np_src, &sk);
	if (!src) return TC_ACT_OK; /* not covered by the document: untouched */
	__u32 slot = src->slot;
	struct np_dst_key dk = { .prefixlen = 64, .gw = src->gw, .addr = ip->daddr };
	__s32 *rp = bpf_map_lookup_elem(&np_dst, &dk);
	struct np_blk_key bk = { .slot = slot, .rule = rp ? *rp : DEFAULT_RULE };
	/* source-based rules: the first rule in ascending order wins, whichever side it matches; a
	 * forwarded source is translated by its source rule only */
	struct np_ssrc_key ssk = { .prefixlen = 64, .slot = slot, .addr = ip->saddr };
	struct np_ssrc_val *sv = bpf_map_lookup_elem(&np_ssrc, &ssk);
	if (sv && (sv->fwd || !rp || sv->rule < *rp)) bk.rule = sv->rule;
	struct np_cnt_val *cnt = bpf_map_lookup_elem(&np_cnt, &bk);
	struct np_blk_val *blk = bpf_map_lookup_elem(&np_blk, &bk);
	if (!blk) { count_drop(cnt, NP_DROP_OOR); return TC_ACT_SHOT; } /* no mapping on that rule: fail closed */
	if (blk->eim == NP_BLK_PASS) return TC_ACT_OK; /* Private NAT: no rule matched, untranslated */
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) { count_drop(cnt, NP_DROP_FRAG); return TC_ACT_SHOT; }

	struct l4 l = {};
	__u32 l4off = ETH_HLEN + ip->ihl * 4;
	if (parse_l4(skb, ip, end, l4off, 1, &l) < 0 || !l.ok) { count_drop(cnt, NP_DROP_PROTO); return TC_ACT_SHOT; }
	__u8 proto = ip->protocol;
	__u32 saddr = ip->saddr, daddr = ip->daddr;
	__u64 now = bpf_ktime_get_ns();

	struct np_flow_key fk = { .ifkey = ifkey, .saddr = saddr, .sport = l.sport, .proto = proto };
	if (!blk->eim) { fk.daddr = daddr; fk.dport = l.dport; }
	struct np_flow_val *fv = bpf_map_lookup_elem(&np_flow, &fk);
	struct np_flow_val nf;
	if (!fv) {
		__u32 size = blk->hi >= blk->lo && blk->lo ? (__u32)(blk->hi - blk->lo) + 1 : 0;
		struct np_occ_key ok = { .nat_ip = blk->nat_ip, .lo = blk->lo, .proto = proto };
		struct np_occ_val *occ = bpf_map_lookup_elem(&np_occ, &ok);
		if (!occ) {
			struct np_occ_val zero = {};
			bpf_map_update_elem(&np_occ, &ok, &zero, BPF_NOEXIST);
			occ = bpf_map_lookup_elem(&np_occ, &ok);
			if (!occ) { count_drop(cnt, NP_DROP_OOR); return TC_ACT_SHOT; }
		}
		__u32 *freed = bpf_map_lookup_elem(&np_freed, &ok);
		__u32 gone = freed ? *freed : 0;
		/* a full block refuses in O(1): no probe of its ports */
		if (size == 0 || occ->used - gone >= size) { count_drop(cnt, NP_DROP_OOR); return TC_ACT_SHOT; }
		if (__sync_fetch_and_add(&occ->used, 1) - gone >= size) {
			__sync_fetch_and_add(&occ->used, -1);
			count_drop(cnt, NP_DROP_OOR);
			return TC_ACT_SHOT;
		}
		struct probe_ctx pc = {};
		pc.pk.nat_ip = blk->nat_ip;
		pc.pk.proto = proto;
		pc.pv.flow = fk;
		pc.pv.blk_lo = blk->lo;
		pc.pv.slot = slot;
		pc.pv.rule = bk.rule;
		pc.pv.last_seen = now;
		pc.lo = blk->lo;
		pc.size = size;
		pc.start = occ->cursor < size ? occ->cursor : 0;
		bpf_loop(size, probe_port, &pc, 0);
		if (!pc.found) {
			__sync_fetch_and_add(&occ->used, -1);
			count_drop(cnt, NP_DROP_OOR);
			return TC_ACT_SHOT;
		}
		occ->cursor = pc.idx + 1;
		nf.nat_ip = blk->nat_ip;
		nf.nat_port = pc.pk.nat_port;
		nf.blk_lo = blk->lo;
		nf.slot = slot;
		nf.rule = bk.rule;
		if (bpf_map_update_elem(&np_flow, &fk, &nf, BPF_NOEXIST)) {
			/* another CPU created this flow meanwhile: give the port back, use its mapping */
			bpf_map_delete_elem(&np_port, &pc.pk);
			__sync_fetch_and_add(&occ->used, -1);
			fv = bpf_map_lookup_elem(&np_flow, &fk);
			if (!fv) return TC_ACT_SHOT;
		} else {
			fv = &nf;
			if (cnt) cnt->new_flows += 1;
		}
	}
	__u32 nat_ip = fv->nat_ip;
	__u16 nat_port = fv->nat_port;
	if (fv != &nf) {
		/* counters belong to the (slot, rule) of the mapping */
		bk.slot = fv->slot;
		bk.rule = fv->rule;
		cnt = bpf_map_lookup_elem(&np_cnt, &bk);
		struct np_port_key pk = { .nat_ip = nat_ip, .nat_port = nat_port, .proto = proto };
		struct np_port_val *pv = bpf_map_lookup_elem(&np_port, &pk);
		if (pv) pv->last_seen = now;
	}

	struct np_rev_key rk = { .nat_ip = nat_ip, .raddr = daddr, .nat_port = nat_port, .rport = l.dport, .proto = proto };
	struct np_rev_val *rv = bpf_map_lookup_elem(&np_rev, &rk);
	__u16 st = 0;
	if (l.tcp_flags & 2) st |= NP_TCP_SYN;
	if (l.tcp_flags & 1) st |= NP_TCP_FIN;
	if (l.tcp_flags & 4) st |= NP_TCP_RST;
	if (rv) {
		rv->last_seen = now;
		if (st & ~rv->state) rv->state |= st; /* racy across CPUs, only ever adds bits */
	} else {
		struct np_rev_val nv = { .ifkey = ifkey, .vaddr = saddr, .vport = l.sport, .state = st, .slot = bk.slot, .rule = bk.rule, .last_seen = now };
		bpf_map_update_elem(&np_rev, &rk, &nv, BPF_ANY);
	}

	__u32 hdrs = l4off - ETH_HLEN + (proto == IPPROTO_TCP ? 20 : 8);
	if (cnt) {
		cnt->sent_pkts += skb->gso_segs > 1 ? skb->gso_segs : 1;
		cnt->sent_bytes += l3_bytes(skb, hdrs);
	}
	if (rewrite(skb, proto, &l, ETH_HLEN + offsetof(struct iphdr, saddr), saddr, nat_ip, l.sport, nat_port)) return TC_ACT_SHOT;
	return TC_ACT_OK;
}

static __always_inline void host_count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&np_host, &i);
	if (v) *v += 1;
}

/*
 * An ICMP error to a NAT IP (destination unreachable, time exceeded, parameter problem) about a
 * packet a VM sent: the quoted packet's source is the NAT IP and port; it goes to the VM with its
 * outer destination, the quoted source address and port, the quoted IP checksum and the ICMP
 * checksum (which covers the quote) rewritten. Not about a conversation: the host's.
 */
static __always_inline int icmp_error_in(struct __sk_buff *skb, __u32 off, __u32 daddr, __u64 now)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct icmphdr *c = data + off;
	if ((void *)(c + 1) > end) return TC_ACT_OK;
	if (c->type != 3 && c->type != 11 && c->type != 12) return TC_ACT_OK;
	__u32 in_off = off + sizeof(struct icmphdr);
	struct iphdr *in = data + in_off;
	if ((void *)(in + 1) > end || in->ihl != 5 || in->saddr != daddr) return TC_ACT_OK;
	__u32 in_l4 = in_off + 20;
	__u16 *ports = data + in_l4;
	if ((void *)(ports + 2) > end) return TC_ACT_OK;
	__u8 iproto = in->protocol;
	struct np_rev_key rk = { .nat_ip = in->saddr, .raddr = in->daddr, .nat_port = ports[0], .rport = ports[1], .proto = iproto };
	if (iproto != IPPROTO_TCP && iproto != IPPROTO_UDP) return TC_ACT_OK;
	struct np_rev_val *rv = bpf_map_lookup_elem(&np_rev, &rk);
	if (!rv) return TC_ACT_OK;
	rv->last_seen = now;
	__u32 vaddr = rv->vaddr, ifkey = rv->ifkey, nat_ip = in->saddr;
	__u16 vport = rv->vport, nat_port = ports[0], old_check = in->check;
	__u32 icsum = off + 2;
	/* the quoted source port */
	if (bpf_l4_csum_replace(skb, icsum, nat_port, vport, 2)) return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, in_l4, &vport, 2, 0)) return TC_ACT_SHOT;
	/* the quoted source address, and the quoted IP checksum that covers it */
	if (bpf_l3_csum_replace(skb, in_off + offsetof(struct iphdr, check), nat_ip, vaddr, 4)) return TC_ACT_SHOT;
	if (bpf_l4_csum_replace(skb, icsum, nat_ip, vaddr, 4)) return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, in_off + offsetof(struct iphdr, saddr), &vaddr, 4, 0)) return TC_ACT_SHOT;
	__u16 new_check;
	if (bpf_skb_load_bytes(skb, in_off + offsetof(struct iphdr, check), &new_check, 2)) return TC_ACT_SHOT;
	if (bpf_l4_csum_replace(skb, icsum, old_check, new_check, 2)) return TC_ACT_SHOT;
	/* the outer destination */
	if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), daddr, vaddr, 4)) return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, daddr), &vaddr, 4, 0)) return TC_ACT_SHOT;
	return ifkey ? bpf_redirect_neigh(ifkey, NULL, 0, 0) : TC_ACT_OK;
}

SEC("tc")
int np_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > end || ip->ihl < 5) return TC_ACT_OK;
	__u32 daddr = ip->daddr, saddr = ip->saddr;
	if (!bpf_map_lookup_elem(&np_natip, &daddr)) return TC_ACT_OK;
	__u8 proto = ip->protocol;
	__u64 now = bpf_ktime_get_ns();

	if (ip->frag_off & bpf_htons(IP_OFFSET)) {
		/* a later fragment: it follows its first one, or is dropped */
		struct np_frag_key fk = { .saddr = saddr, .daddr = daddr, .id = ip->id, .proto = proto };
		struct np_frag_val *f = bpf_map_lookup_elem(&np_frag, &fk);
		if (!f) { host_count(1); return TC_ACT_SHOT; }
		f->last_seen = now;
		__u32 vaddr = f->vaddr, ifkey = f->ifkey;
		if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), daddr, vaddr, 4)) return TC_ACT_SHOT;
		if (bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, daddr), &vaddr, 4, 0)) return TC_ACT_SHOT;
		return ifkey ? bpf_redirect_neigh(ifkey, NULL, 0, 0) : TC_ACT_OK;
	}

	struct l4 l = {};
	__u32 l4off = ETH_HLEN + ip->ihl * 4;
	if (parse_l4(skb, ip, end, l4off, 0, &l) < 0) return TC_ACT_SHOT;
	if (!l.ok) {
		if (proto == IPPROTO_ICMP) return icmp_error_in(skb, l4off, daddr, now);
		return TC_ACT_OK; /* not a translated protocol: the host's */
	}
	struct np_rev_key rk = { .nat_ip = daddr, .raddr = saddr, .nat_port = l.dport, .rport = l.sport, .proto = proto };
	struct np_rev_val *rv = bpf_map_lookup_elem(&np_rev, &rk);
	if (!rv) { host_count(0); return TC_ACT_SHOT; } /* unsolicited */
	rv->last_seen = now;
	__u16 st = NP_TCP_IN;
	if ((l.tcp_flags & 16) && (rv->state & NP_TCP_SYN)) st |= NP_TCP_EST;
	if (l.tcp_flags & 1) st |= NP_TCP_FIN;
	if (l.tcp_flags & 4) st |= NP_TCP_RST;
	if (st & ~rv->state) rv->state |= st; /* racy across CPUs, only ever adds bits */
	__u32 vaddr = rv->vaddr, ifkey = rv->ifkey;
	__u16 vport = rv->vport;
	struct np_blk_key bk = { .slot = rv->slot, .rule = rv->rule };

	if (ip->frag_off & bpf_htons(IP_MF)) {
		struct np_frag_key fk = { .saddr = saddr, .daddr = daddr, .id = ip->id, .proto = proto };
		struct np_frag_val fv = { .ifkey = ifkey, .vaddr = vaddr, .last_seen = now };
		bpf_map_update_elem(&np_frag, &fk, &fv, BPF_ANY);
	}
	struct np_cnt_val *cnt = bpf_map_lookup_elem(&np_cnt, &bk);
	if (cnt) {
		__u32 hdrs = l4off - ETH_HLEN + (proto == IPPROTO_TCP ? 20 : 8);
		cnt->recv_pkts += skb->gso_segs > 1 ? skb->gso_segs : 1;
		cnt->recv_bytes += l3_bytes(skb, hdrs);
	}
	if (rewrite(skb, proto, &l, ETH_HLEN + offsetof(struct iphdr, daddr), daddr, vaddr, l.dport, vport)) return TC_ACT_SHOT;
	return ifkey ? bpf_redirect_neigh(ifkey, NULL, 0, 0) : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
