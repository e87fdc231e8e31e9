// SPDX-License-Identifier: GPL-2.0
/* natplane-ebpf-loader: loads natplane.bpf.o, pins its maps and its two TCX links in a directory
 * of bpffs, and serves the agent's map commands on stdin/stdout, one line each (the protocol is in
 * docs/ebpf-backend.md). Started again with the same directory, it reuses the pinned maps and
 * swaps the programs behind the pinned links: flows live on. Stopping it leaves the data plane as
 * it is.
 *
 * The walks of the 1 M-entry maps (w sweep, r release, c counters, p usage) can have a channel of
 * their own: with NATPLANE_LOADER_WALK_FD=N in the environment, a second thread reads them from
 * fd N and answers on it, so that a batch (a patch) on stdin never waits behind one.
 *
 * usage: natplane-ebpf-loader OBJECT PIN_DIR UPLINK */
#include <errno.h>
#include <pthread.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "natplane.h"

#define TCX_INGRESS 46
#define TCX_EGRESS 47
#define ENOTSUPP_ 524 /* the kernel's ENOTSUPP: no batch operation for this map type */

static struct bpf_object *obj;
/* where this thread's answers go: stdout, or the walk channel */
static __thread FILE *out;
static int ncpus;
static char pin_dir[512];

static int map_fd(const char *name, struct bpf_map **out)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	if (!m) return -1;
	if (out) *out = m;
	return bpf_map__fd(m);
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int hex_to_bytes(const char *hex, unsigned char *out, size_t n)
{
	if (strlen(hex) != n * 2) return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void print_hex(const unsigned char *b, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) { fputc(d[b[i] >> 4], out); fputc(d[b[i] & 15], out); }
}

static __u64 mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* Attaches prog at the uplink (TCX) behind a pinned link, or swaps the program of the link pinned before. */
static int attach(const char *prog_name, int type, int ifindex, const char *link_name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, prog_name);
	if (!p) return -ENOENT;
	int pfd = bpf_program__fd(p);
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", pin_dir, link_name);
	int lfd = bpf_obj_get(path);
	if (lfd >= 0) {
		if (bpf_link_update(lfd, pfd, NULL) == 0) { close(lfd); return 0; }
		close(lfd);
		unlink(path); /* the device it was attached to is gone */
	}
	lfd = bpf_link_create(pfd, ifindex, type, NULL);
	if (lfd < 0) return lfd;
	int err = bpf_obj_pin(lfd, path);
	close(lfd);
	return err;
}

/* ---- commands ---- */

static char errbuf[256];
static int batch_n, batch_err;

static void fail(const char *fmt, const char *a, int err)
{
	if (batch_err++) return;
	snprintf(errbuf, sizeof(errbuf), fmt, a, strerror(err > 0 ? err : -err));
}

/* u MAP KEY VALUE | z MAP KEY (zero value if absent) | d MAP KEY */
static void cmd_map(char op, char *rest)
{
	char *save, *name = strtok_r(rest, " ", &save), *k = strtok_r(NULL, " ", &save), *v = strtok_r(NULL, " ", &save);
	struct bpf_map *m;
	int fd = name ? map_fd(name, &m) : -1;
	if (fd < 0 || !k) { fail("bad command for map %s%s", name ? name : "?", 0); return; }
	static unsigned char key[64], val[65536];
	size_t ks = bpf_map__key_size(m), vs = bpf_map__value_size(m);
	enum bpf_map_type t = bpf_map__type(m);
	int percpu = t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY;
	size_t full = percpu ? ((vs + 7) & ~7ul) * ncpus : vs;
	if (ks > sizeof(key) || full > sizeof(val) || hex_to_bytes(k, key, ks)) { fail("bad key for map %s%s", name, 0); return; }
	int err = 0;
	if (op == 'd') {
		err = bpf_map_delete_elem(fd, key);
		if (err && errno == ENOENT) err = 0;
	} else if (op == 'z') {
		memset(val, 0, full);
		err = bpf_map_update_elem(fd, key, val, BPF_NOEXIST);
		if (err && errno == EEXIST) err = 0;
	} else {
		if (percpu || !v || hex_to_bytes(v, val, vs)) { fail("bad value for map %s%s", name, 0); return; }
		err = bpf_map_update_elem(fd, key, val, BPF_ANY);
	}
	if (err) fail("map %s: %s", name, errno);
}

/* ---- B: a binary batch of map writes (docs/ebpf-backend.md "Binary batches") ----
 * Groups, each: op ('u', 'z' or 'd'), name length, map name, key size (u16), value size (u16,
 * 0 unless 'u'), count (u32), then count keys back to back and, for 'u', count values: the
 * arrays bpf_map_update_batch and bpf_map_delete_batch take as they are. Sizes and counts are
 * little-endian. Where the kernel has no batch operation for a map type, or refuses one, the rest
 * of the group goes one element at a time; an element that fails alone is counted as failed. */

static void fail_n(int n, const char *fmt, const char *a, int err)
{
	fail(fmt, a, err);
	batch_err += n - 1;
}

/* Whether a batch call failed for want of batch support (the count was not written back). */
static int batch_unsupported(int e)
{
	return e == ENOTSUPP_ || e == EOPNOTSUPP || e == EINVAL;
}

static void update_run(int fd, const char *name, const unsigned char *keys, size_t ks, const unsigned char *vals, size_t vs, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
	__u32 done = 0;
	int one_by_one = 0;
	while (done < n) {
		if (!one_by_one) {
			__u32 cnt = n - done;
			if (bpf_map_update_batch(fd, keys + done * ks, vals + done * vs, &cnt, &o) == 0) return;
			if (batch_unsupported(errno)) { one_by_one = 1; continue; }
			done += errno == EFAULT ? 0 : cnt; /* cnt: the elements written before the one that failed */
			if (done >= n) return;
		}
		if (bpf_map_update_elem(fd, keys + done * ks, vals + done * vs, BPF_ANY)) fail("map %s: %s", name, errno);
		done++;
	}
}

static void delete_run(int fd, const char *name, const unsigned char *keys, size_t ks, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 done = 0;
	int one_by_one = 0;
	while (done < n) {
		if (!one_by_one) {
			__u32 cnt = n - done;
			if (bpf_map_delete_batch(fd, keys + done * ks, &cnt, &o) == 0) return;
			if (batch_unsupported(errno)) { one_by_one = 1; continue; }
			done += errno == EFAULT ? 0 : cnt;
			if (done >= n) return;
		}
		/* absent is fine, as for d */
		if (bpf_map_delete_elem(fd, keys + done * ks) && errno != ENOENT) fail("map %s: %s", name, errno);
		done++;
	}
}

static size_t cmp_size;
static int cmp_key(const void *a, const void *b) { return memcmp(a, b, cmp_size); }

/* z for many keys: one walk of the map's keys finds those present, the absent ones are created
 * zeroed in one batch. Only the loader creates entries in the maps the agent writes with z (the
 * programs only update np_cnt's), so nothing can create one between the walk and the write. */
static void zero_run(int fd, const char *name, const unsigned char *keys, size_t ks, size_t full, __u32 n)
{
	if (n <= 16) {
		static unsigned char zero[65536];
		for (__u32 i = 0; i < n; i++)
			if (bpf_map_update_elem(fd, keys + i * ks, zero, BPF_NOEXIST) && errno != EEXIST) fail("map %s: %s", name, errno);
		return;
	}
	size_t cap = 1024, have = 0;
	unsigned char *present = malloc(cap * ks), key[64], next[64];
	int first = 1;
	while (bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		first = 0;
		memcpy(key, next, ks);
		if (have == cap) { cap *= 2; present = realloc(present, cap * ks); }
		memcpy(present + have++ * ks, key, ks);
	}
	cmp_size = ks;
	qsort(present, have, ks, cmp_key);
	unsigned char *absent = malloc(n * ks), *zeros = calloc(n, full);
	__u32 m = 0;
	for (__u32 i = 0; i < n; i++) {
		const unsigned char *k = keys + i * ks;
		if (have && bsearch(k, present, have, ks, cmp_key)) continue;
		memcpy(absent + m++ * ks, k, ks);
	}
	if (m) update_run(fd, name, absent, ks, zeros, full, m);
	free(present);
	free(absent);
	free(zeros);
}

static __u32 le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (__u32)p[3] << 24; }
static __u32 le16(const unsigned char *p) { return p[0] | p[1] << 8; }

static void cmd_binary(char *rest)
{
	char *end;
	unsigned long len = strtoul(rest, &end, 10);
	if (end == rest || *end || len > (1ul << 30)) { fprintf(out, "err usage: B BYTES\n"); return; }
	static unsigned char *buf;
	static size_t cap;
	if (len > cap) { free(buf); cap = len; buf = malloc(cap); }
	if (len && fread(buf, 1, len, stdin) != len) { fprintf(out, "err the batch ended after fewer than %lu bytes\n", len); fflush(out); _exit(1); }
	size_t at = 0;
	while (at < len) {
		if (len - at < 2 || len - at < 2 + (size_t)buf[at + 1] + 8) { fail_n(1, "bad batch%s: a group header is cut short (%s)", "", EINVAL); break; }
		char op = buf[at];
		char name[256];
		size_t nl = buf[at + 1];
		memcpy(name, buf + at + 2, nl);
		name[nl] = 0;
		const unsigned char *h = buf + at + 2 + nl;
		size_t ks = le16(h), vs = le16(h + 2);
		__u32 n = le32(h + 4);
		at += 2 + nl + 8;
		size_t body = (size_t)n * (ks + (op == 'u' ? vs : 0));
		if (body > len - at) { fail_n(n ? n : 1, "bad batch for map %s: %s", name, EINVAL); break; }
		const unsigned char *keys = buf + at, *vals = keys + (size_t)n * ks;
		at += body;
		batch_n += n;
		struct bpf_map *m;
		int fd = map_fd(name, &m);
		if (fd < 0) { fail_n(n, "unknown map %s: %s", name, ENOENT); continue; }
		enum bpf_map_type t = bpf_map__type(m);
		int percpu = t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY;
		size_t mks = bpf_map__key_size(m), mvs = bpf_map__value_size(m);
		size_t full = percpu ? ((mvs + 7) & ~7ul) * ncpus : mvs;
		if (ks != mks || ks > 64 || full > 65536 || (op == 'u' && (vs != mvs || percpu))) {
			fail_n(n, "bad sizes for map %s: %s", name, EINVAL);
			continue;
		}
		if (op == 'u') update_run(fd, name, keys, ks, vals, vs, n);
		else if (op == 'd') delete_run(fd, name, keys, ks, n);
		else if (op == 'z') zero_run(fd, name, keys, ks, full, n);
		else fail_n(n, "bad batch operation for map %s: %s", name, EINVAL);
	}
	if (batch_err) fprintf(out, "err %d %d %s\n", batch_n, batch_err, errbuf);
	else fprintf(out, "ok %d\n", batch_n);
	batch_n = batch_err = 0;
}

/* k MAP: every key and value of a (not per-CPU) map */
static void cmd_dump(char *name)
{
	struct bpf_map *m;
	int fd = map_fd(name, &m);
	if (fd < 0) { fprintf(out, "err unknown map %s\n", name); return; }
	size_t ks = bpf_map__key_size(m), vs = bpf_map__value_size(m);
	static unsigned char key[64], next[64], val[65536];
	int n = 0, first = 1;
	while (bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		first = 0;
		memcpy(key, next, ks);
		if (bpf_map_lookup_elem(fd, key, val)) continue;
		fprintf(out, "k "); print_hex(key, ks); fputc(' ', out); print_hex(val, vs); fputc('\n', out);
		n++;
	}
	fprintf(out, "ok %d\n", n);
}

/* Prints one (slot, rule)'s counters summed over CPUs, unless all are zero; returns whether it did. */
static int print_counters(const struct np_blk_key *key, const unsigned char *vals, size_t stride)
{
	struct np_cnt_val s = {};
	for (int c = 0; c < ncpus; c++) {
		const struct np_cnt_val *v = (const void *)(vals + c * stride);
		s.new_flows += v->new_flows; s.sent_pkts += v->sent_pkts; s.sent_bytes += v->sent_bytes;
		s.recv_pkts += v->recv_pkts; s.recv_bytes += v->recv_bytes;
		for (int r = 0; r < NP_REASONS; r++) s.drops[r] += v->drops[r];
	}
	__u64 any = s.new_flows | s.sent_pkts | s.sent_bytes | s.recv_pkts | s.recv_bytes;
	for (int r = 0; r < NP_REASONS; r++) any |= s.drops[r];
	if (!any) return 0;
	fprintf(out, "c %u %d %llu %llu %llu %llu %llu %llu %llu %llu %llu\n", key->slot, key->rule,
	       (unsigned long long)s.new_flows, (unsigned long long)s.sent_pkts, (unsigned long long)s.sent_bytes,
	       (unsigned long long)s.recv_pkts, (unsigned long long)s.recv_bytes, (unsigned long long)s.drops[0],
	       (unsigned long long)s.drops[1], (unsigned long long)s.drops[2], (unsigned long long)s.drops[3]);
	return 1;
}

/* c: counters per (slot, rule) with any count, summed over CPUs, then the host's. Read with
 * bpf_map_lookup_batch, a few thousand pairs a call (an element at a time, two calls each, where
 * the kernel has no batch lookup). */
static void cmd_counters(void)
{
	int fd = map_fd("np_cnt", NULL), hfd = map_fd("np_host", NULL);
	size_t stride = (sizeof(struct np_cnt_val) + 7) & ~7ul;
	enum { CHUNK = 4096 };
	static struct np_blk_key keys[CHUNK];
	unsigned char *vals = malloc(CHUNK * ncpus * stride);
	int n = 0, batched = 1;
	__u32 in = 0, next = 0, count;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	for (int first = 1;; first = 0) {
		count = CHUNK;
		int err = bpf_map_lookup_batch(fd, first ? NULL : &in, &next, keys, vals, &count, &o);
		if (err && errno != ENOENT) {
			if (first) { batched = 0; break; } /* no batch lookup for this map here */
			fprintf(out, "err np_cnt: %s\n", strerror(errno));
			free(vals);
			return;
		}
		for (__u32 i = 0; i < count; i++) n += print_counters(&keys[i], vals + (size_t)i * ncpus * stride, stride);
		if (err) break; /* ENOENT: that was the last of them */
		in = next;
	}
	if (!batched) {
		struct np_blk_key key, next;
		int first = 1;
		while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
			first = 0;
			key = next;
			if (bpf_map_lookup_elem(fd, &key, vals) == 0) n += print_counters(&key, vals, stride);
		}
	}
	free(vals);
	__u64 h[2] = {0, 0};
	__u64 *hv = calloc(ncpus, 8);
	for (__u32 i = 0; i < 2; i++) {
		if (bpf_map_lookup_elem(hfd, &i, hv)) continue;
		for (int c = 0; c < ncpus; c++) h[i] += hv[c];
	}
	free(hv);
	fprintf(out, "h %llu %llu\nok %d\n", (unsigned long long)h[0], (unsigned long long)h[1], n);
}

/* p: ports in use and open flows (remote conversations) per (slot, rule) */
struct usage { __u32 slot; __s32 rule; __u64 ports, flows; };
static struct usage *usages;
static size_t nusage, capusage;
static struct usage *usage_of(__u32 slot, __s32 rule)
{
	for (size_t i = 0; i < nusage; i++)
		if (usages[i].slot == slot && usages[i].rule == rule) return &usages[i];
	if (nusage == capusage) {
		capusage = capusage ? capusage * 2 : 64;
		usages = realloc(usages, capusage * sizeof(*usages));
	}
	usages[nusage] = (struct usage){ slot, rule, 0, 0 };
	return &usages[nusage++];
}

static void cmd_usage(void)
{
	int pfd = map_fd("np_port", NULL), rfd = map_fd("np_rev", NULL);
	nusage = 0;
	struct np_port_key pk, pn;
	struct np_port_val pv;
	int first = 1;
	while (bpf_map_get_next_key(pfd, first ? NULL : &pk, &pn) == 0) {
		first = 0; pk = pn;
		if (bpf_map_lookup_elem(pfd, &pk, &pv) == 0) usage_of(pv.slot, pv.rule)->ports++;
	}
	struct np_rev_key rk, rn;
	struct np_rev_val rv;
	first = 1;
	while (bpf_map_get_next_key(rfd, first ? NULL : &rk, &rn) == 0) {
		first = 0; rk = rn;
		if (bpf_map_lookup_elem(rfd, &rk, &rv) == 0) usage_of(rv.slot, rv.rule)->flows++;
	}
	for (size_t i = 0; i < nusage; i++)
		fprintf(out, "p %u %d %llu %llu\n", usages[i].slot, usages[i].rule, (unsigned long long)usages[i].ports, (unsigned long long)usages[i].flows);
	fprintf(out, "ok %zu\n", nusage);
}

/* A set of NAT ports (open addressing) for the sweep. */
static struct np_port_key *live;
static size_t live_cap;
static __u64 hash_pk(const struct np_port_key *k) { return ((__u64)k->nat_ip * 2654435761u) ^ ((__u64)k->nat_port << 8 | k->proto) * 40503u; }
static void live_add(const struct np_port_key *k)
{
	/* entries created after the count: grow (rare) */
	static size_t n;
	if (k == NULL) { n = 0; return; }
	if (2 * (n + 1) > live_cap) {
		struct np_port_key *old = live;
		size_t oc = live_cap;
		live_cap *= 2;
		live = calloc(live_cap, sizeof(*live));
		n = 0;
		for (size_t j = 0; j < oc; j++) if (old[j].proto) live_add(&old[j]);
		free(old);
	}
	size_t i = hash_pk(k) & (live_cap - 1);
	while (live[i].proto) { if (!memcmp(&live[i], k, sizeof(*k))) return; i = (i + 1) & (live_cap - 1); }
	live[i] = *k;
	n++;
}
static int live_has(const struct np_port_key *k)
{
	size_t i = hash_pk(k) & (live_cap - 1);
	while (live[i].proto) { if (!memcmp(&live[i], k, sizeof(*k))) return 1; i = (i + 1) & (live_cap - 1); }
	return 0;
}

static __u32 timeout_of(int bfd, __u32 slot, __s32 rule, __u8 proto, __u32 state)
{
	struct np_blk_key bk = { slot, rule };
	struct np_blk_val b;
	__u32 t[5] = { 30, 30, 1200, 30, 120 };
	if (bpf_map_lookup_elem(bfd, &bk, &b) == 0) memcpy(t, b.timeout, sizeof(t));
	if (proto == 17) return t[0];
	if (proto == 1) return t[1];
	if (state & (NP_TCP_FIN | NP_TCP_RST)) return t[4];
	if (state & NP_TCP_EST) return t[2];
	return t[3];
}

/* Frees a NAT port: its owner's egress flow, the port, one place in its block. */
static int free_port(const struct np_port_key *pk, const struct np_port_val *pv)
{
	int pfd = map_fd("np_port", NULL), ffd = map_fd("np_flow", NULL);
	struct np_flow_val fv;
	if (bpf_map_lookup_elem(ffd, &pv->flow, &fv) == 0 && fv.nat_ip == pk->nat_ip && fv.nat_port == pk->nat_port)
		bpf_map_delete_elem(ffd, &pv->flow);
	if (bpf_map_delete_elem(pfd, pk)) return 0;
	/* the programs count ports taken in np_occ (atomically); user space counts those freed in its
	 * own map, so that neither overwrites the other's count */
	struct np_occ_key ok = { pk->nat_ip, pv->blk_lo, pk->proto, 0 };
	__u32 freed = 0;
	bpf_map_lookup_elem(map_fd("np_freed", NULL), &ok, &freed);
	freed++;
	bpf_map_update_elem(map_fd("np_freed", NULL), &ok, &freed, BPF_ANY);
	return 1;
}

/* w: deletes conversations idle past their timeout (looking again at the time just before each
 * delete), then the NAT ports no conversation uses any more. */
static void cmd_sweep(void)
{
	int rfd = map_fd("np_rev", NULL), pfd = map_fd("np_port", NULL), bfd = map_fd("np_blk", NULL), frfd = map_fd("np_frag", NULL);
	__u64 now = mono_ns();
	/* the set of ports some live conversation uses, sized by the conversations there are */
	struct bpf_map *rm;
	map_fd("np_rev", &rm);
	size_t nrev = 0;
	{
		struct np_rev_key k, n;
		int f = 1;
		while (bpf_map_get_next_key(rfd, f ? NULL : &k, &n) == 0) { f = 0; k = n; nrev++; }
	}
	size_t want = 1024;
	while (want < 2 * nrev + 64) want <<= 1;
	if (live_cap != want) { free(live); live_cap = want; live = calloc(live_cap, sizeof(*live)); }
	else memset(live, 0, live_cap * sizeof(*live));
	live_add(NULL);
	int revs = 0, ports = 0, frags = 0, first = 1;
	struct np_rev_key rk, rn, *cand = NULL;
	struct np_rev_val rv;
	size_t ncand = 0, capcand = 0;
	while (bpf_map_get_next_key(rfd, first ? NULL : &rk, &rn) == 0) {
		first = 0; rk = rn;
		if (bpf_map_lookup_elem(rfd, &rk, &rv)) continue;
		__u64 limit = (__u64)timeout_of(bfd, rv.slot, rv.rule, rk.proto, rv.state) * 1000000000ull;
		if (now > rv.last_seen && now - rv.last_seen > limit) {
			if (ncand == capcand) { capcand = capcand ? capcand * 2 : 256; cand = realloc(cand, capcand * sizeof(*cand)); }
			cand[ncand++] = rk;
		} else {
			struct np_port_key pk = { rk.nat_ip, rk.nat_port, rk.proto, 0 };
			live_add(&pk);
		}
	}
	for (size_t i = 0; i < ncand; i++) {
		/* look again just before deleting: a packet may have used it since */
		if (bpf_map_lookup_elem(rfd, &cand[i], &rv)) continue;
		__u64 limit = (__u64)timeout_of(bfd, rv.slot, rv.rule, cand[i].proto, rv.state) * 1000000000ull;
		__u64 t = mono_ns();
		if (t > rv.last_seen && t - rv.last_seen > limit) {
			bpf_map_delete_elem(rfd, &cand[i]);
			revs++;
		} else {
			struct np_port_key pk = { cand[i].nat_ip, cand[i].nat_port, cand[i].proto, 0 };
			live_add(&pk);
		}
	}
	free(cand);
	struct np_port_key pk, pn, *dead = NULL;
	struct np_port_val pv;
	size_t ndead = 0, capdead = 0;
	first = 1;
	while (bpf_map_get_next_key(pfd, first ? NULL : &pk, &pn) == 0) {
		first = 0; pk = pn;
		if (live_has(&pk)) continue;
		if (ndead == capdead) { capdead = capdead ? capdead * 2 : 256; dead = realloc(dead, capdead * sizeof(*dead)); }
		dead[ndead++] = pk;
	}
	for (size_t i = 0; i < ndead; i++) {
		/* a port with no conversation, idle for a second at least (a new flow's first packet writes both) */
		if (bpf_map_lookup_elem(pfd, &dead[i], &pv)) continue;
		if (mono_ns() - pv.last_seen < 1000000000ull) continue;
		ports += free_port(&dead[i], &pv);
	}
	free(dead);
	struct np_frag_key fk, fn;
	struct np_frag_val fv;
	first = 1;
	while (bpf_map_get_next_key(frfd, first ? NULL : &fk, &fn) == 0) {
		first = 0; fk = fn;
		if (bpf_map_lookup_elem(frfd, &fk, &fv) == 0 && now - fv.last_seen > 30000000000ull) {
			bpf_map_delete_elem(frfd, &fk);
			frags++;
		}
	}
	fprintf(out, "ok %d %d %d\n", revs, ports, frags);
}

/* r NATIP LO HI [NATIP LO HI ...]: deletes every conversation and NAT port of those ports (released
 * blocks), all ranges in one walk of each map: a walk visits every bucket of a 1 M-entry map
 * however few entries it holds, so ranges released together are released by one command */
struct range { __u32 ip; unsigned lo, hi; };
static int in_ranges(const struct range *rs, int n, __u32 ip, __u16 port_be)
{
	unsigned p = ntohs(port_be);
	for (int i = 0; i < n; i++)
		if (rs[i].ip == ip && p >= rs[i].lo && p <= rs[i].hi) return 1;
	return 0;
}

static void cmd_release(char *rest)
{
	static struct range *rs;
	static int cap;
	int nr_ranges = 0;
	char *save;
	for (char *ip = strtok_r(rest, " ", &save); ip; ip = strtok_r(NULL, " ", &save)) {
		char *lo_s = strtok_r(NULL, " ", &save), *hi_s = strtok_r(NULL, " ", &save);
		struct in_addr a;
		if (!lo_s || !hi_s || inet_pton(AF_INET, ip, &a) != 1) { fprintf(out, "err usage: r NATIP LO HI [NATIP LO HI ...]\n"); return; }
		if (nr_ranges == cap) { cap = cap ? cap * 2 : 16; rs = realloc(rs, cap * sizeof(*rs)); }
		rs[nr_ranges++] = (struct range){ a.s_addr, (unsigned)atoi(lo_s), (unsigned)atoi(hi_s) };
	}
	if (!nr_ranges) { fprintf(out, "err usage: r NATIP LO HI [NATIP LO HI ...]\n"); return; }
	int rfd = map_fd("np_rev", NULL), pfd = map_fd("np_port", NULL);
	int n = 0;
	struct np_rev_key rk, rn, *revs = NULL;
	size_t nr = 0, cr = 0;
	int first = 1;
	while (bpf_map_get_next_key(rfd, first ? NULL : &rk, &rn) == 0) {
		first = 0; rk = rn;
		if (!in_ranges(rs, nr_ranges, rk.nat_ip, rk.nat_port)) continue;
		if (nr == cr) { cr = cr ? cr * 2 : 64; revs = realloc(revs, cr * sizeof(*revs)); }
		revs[nr++] = rk;
	}
	for (size_t i = 0; i < nr; i++) n += bpf_map_delete_elem(rfd, &revs[i]) == 0;
	free(revs);
	struct np_port_key pk, pn, *ports = NULL;
	struct np_port_val pv;
	size_t np = 0, cp = 0;
	first = 1;
	while (bpf_map_get_next_key(pfd, first ? NULL : &pk, &pn) == 0) {
		first = 0; pk = pn;
		if (!in_ranges(rs, nr_ranges, pk.nat_ip, pk.nat_port)) continue;
		if (np == cp) { cp = cp ? cp * 2 : 64; ports = realloc(ports, cp * sizeof(*ports)); }
		ports[np++] = pk;
	}
	for (size_t i = 0; i < np; i++)
		if (bpf_map_lookup_elem(pfd, &ports[i], &pv) == 0) free_port(&ports[i], &pv);
	free(ports);
	fprintf(out, "ok %d\n", n);
}

/* ---- the walks' channel ----
 * w, r, c and p visit every bucket of maps of up to 1 M entries: tens of milliseconds however
 * few entries there are. On the walk channel (NATPLANE_LOADER_WALK_FD) they run on a thread of
 * their own, so a batch on stdin is written meanwhile instead of waiting. The kernel's maps take
 * concurrent calls (the programs write them all the time); of the loader's own state the walks
 * share nothing with the other commands (strtok_r, answers to this thread's `out`), and walk_lock
 * keeps two walks (one asked on stdin, by hand) from sharing their buffers. */
static pthread_mutex_t walk_lock = PTHREAD_MUTEX_INITIALIZER;

/* Leaves: stdout flushed, then _exit, not exit: exit flushes every stream without their locks,
 * and a walk thread flushing its answer at that moment had it written twice (an answer the
 * agent never asked for). The programs stay attached (pinned links). */
__attribute__((noreturn)) static void leave(int code)
{
	fflush(stdout);
	_exit(code);
}

static void walk(char op, char *rest)
{
	pthread_mutex_lock(&walk_lock);
	if (op == 'w') cmd_sweep();
	else if (op == 'r') cmd_release(rest);
	else if (op == 'c') cmd_counters();
	else cmd_usage();
	pthread_mutex_unlock(&walk_lock);
}

static void *walk_channel(void *arg)
{
	int fd = (int)(intptr_t)arg;
	FILE *in = fdopen(fd, "r");
	out = fdopen(dup(fd), "w");
	if (!in || !out) { fprintf(stderr, "walk channel on fd %d: %s\n", fd, strerror(errno)); exit(1); }
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, in)) > 0) {
		if (line[len - 1] == '\n') line[--len] = 0;
		if (len == 0) continue;
		char op = line[0];
		if (op == 'w' || op == 'r' || op == 'c' || op == 'p') walk(op, len > 2 ? line + 2 : line + len);
		else fprintf(out, "err only w, r, c and p on the walk channel, not %c\n", op);
		fflush(out);
	}
	return NULL; /* the agent closed it: stdin goes on alone */
}

int main(int argc, char **argv)
{
	out = stdout;
	if (argc != 4) { fprintf(stderr, "usage: %s OBJECT PIN_DIR UPLINK\n", argv[0]); return 2; }
	snprintf(pin_dir, sizeof(pin_dir), "%s", argv[2]);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	ncpus = libbpf_num_possible_cpus();
	int ifindex = if_nametoindex(argv[3]);
	if (!ifindex) { fprintf(stderr, "no interface %s\n", argv[3]); return 1; }
	mkdir(pin_dir, 0700);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) { fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno)); return 1; }
	int err = bpf_object__load(obj);
	if (err) { fprintf(stderr, "load %s: %s\n", argv[1], strerror(-err)); return 1; }
	if ((err = attach("np_egress", TCX_EGRESS, ifindex, "link_egress")) || (err = attach("np_ingress", TCX_INGRESS, ifindex, "link_ingress"))) {
		fprintf(stderr, "attach at %s (TCX): %s\n", argv[3], strerror(err > 0 ? err : -err));
		return 1;
	}
	const char *walk_fd = getenv("NATPLANE_LOADER_WALK_FD");
	if (walk_fd && *walk_fd) {
		pthread_t t;
		if ((err = pthread_create(&t, NULL, walk_channel, (void *)(intptr_t)atoi(walk_fd)))) {
			fprintf(stderr, "walk channel: %s\n", strerror(err));
			return 1;
		}
		pthread_detach(t);
	}
	fprintf(out, "ready %d %d\n", ifindex, ncpus);
	fflush(stdout);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n') line[--len] = 0;
		if (len == 0) continue;
		char op = line[0];
		char *rest = len > 2 ? line + 2 : line + len;
		switch (op) {
		case 'u': case 'z': case 'd':
			cmd_map(op, rest);
			batch_n++;
			continue; /* answered at the next s */
		case 's':
			if (batch_err) fprintf(out, "err %d %d %s\n", batch_n, batch_err, errbuf);
			else fprintf(out, "ok %d\n", batch_n);
			batch_n = batch_err = 0;
			break;
		case 'B': cmd_binary(rest); break;
		case 'i': {
			unsigned idx = if_nametoindex(rest);
			if (idx) fprintf(out, "ok %u\n", idx); else fprintf(out, "err no interface %s\n", rest);
			break;
		}
		case 'k': cmd_dump(rest); break;
		case 'c': case 'p': case 'w': case 'r': walk(op, rest); break;
		case 'q': leave(0);
		default: fprintf(out, "err unknown command %c\n", op);
		}
		fflush(stdout);
	}
	leave(0);
}
