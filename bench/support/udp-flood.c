/* udp-flood DST PORT FLOWS SECONDS PAYLOAD: FLOWS connected UDP sockets (one source port each)
 * sending PAYLOAD-byte datagrams to DST:PORT round-robin for SECONDS; prints how many were sent.
 * The packet source of bench/dataplane.bench.ts (built there with clang; no dependency). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 6) { fprintf(stderr, "usage: %s DST PORT FLOWS SECONDS PAYLOAD\n", argv[0]); return 2; }
	int flows = atoi(argv[3]), payload = atoi(argv[5]);
	double seconds = atof(argv[4]);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || flows < 1 || flows > 1024) return 2;
	int fds[1024];
	for (int i = 0; i < flows; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof(dst))) { perror("socket"); return 1; }
	}
	char buf[1500];
	memset(buf, 'x', sizeof(buf));
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned long long sent = 0;
	for (;;) {
		for (int i = 0; i < flows; i++)
			for (int k = 0; k < 16; k++)
				if (send(fds[i], buf, payload, MSG_DONTWAIT) > 0) sent++;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) break;
	}
	printf("%llu\n", sent);
	return 0;
}
