// Command mtlsgate-bench measures mtlsgate: Check under load against the
// real binary (with a no-op Check server as the machine's ceiling), the
// control plane at scale, and revocation at scale (CRLs and OCSP). Each part writes JSON;
// `report` turns the parts and the micro-benchmarks into
// bench/results/latest.md and latest.json. See docs/performance.md.
//
//	mtlsgate-bench check        -out PART.json   Check under load
//	mtlsgate-bench controlplane -out PART.json   translation, snapshot memory, API → ADS latency
//	mtlsgate-bench revocation   -out PART.json   1M-entry CRL: load, memory, lookup
//	mtlsgate-bench parsers      -out PART.json   parser time per byte over hostile input, 64 KiB to 4 MiB
//	mtlsgate-bench report       -parts DIR -out DIR
//	mtlsgate-bench noop-server  -addr ADDR       the ceiling: answers every Check OK
//	mtlsgate-bench serve-profiled [serve flags]  mtlsgate serve, with CPU profiles on SIGUSR1/SIGUSR2
//	mtlsgate-bench flood        -addr ADMIN      unauthenticated uploads to the admin port until SIGTERM
//	mtlsgate-bench ocsp-responder -issuer FILE   an OCSP responder on loopback, its counts at /stats
//
// Every part takes -h for its flags.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"check":          runCheck,
		"controlplane":   runControlPlane,
		"revocation":     runRevocation,
		"parsers":        runParsers,
		"report":         runReport,
		"noop-server":    runNoop,
		"serve-profiled": runServeProfiled,
		"load":           runLoad,
		"flood":          runFlood,
		"ocsp-responder": runResponder,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	if err := f(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "mtlsgate-bench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mtlsgate-bench check|controlplane|revocation|parsers|report|noop-server|serve-profiled|flood|ocsp-responder [flags]")
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
