package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"palisade/internal/cache/redisstore"
	"palisade/internal/config"
	"palisade/internal/gateway"
	"palisade/internal/provider"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run [-c palisade.yaml] [flags]", stdout, stderr)
	path := fs.String("c", "palisade.yaml", "config file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until exit, for performance work")
	var lf logFlags
	lf.register(fs)
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "palisade run:", err)
		return exitUsage
	}
	redisstore.RouteClientLog(log)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "palisade run:", err)
			return exitFailed
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "palisade run:", err)
			return exitFailed
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printConfigError(stderr, err)
		return exitFailed
	}
	return serve(cfg, log, stderr, provider.NewFile(*path, log))
}

// serve applies cfg and runs until SIGINT or SIGTERM. With a file provider,
// SIGHUP and edits to the file reload it.
func serve(cfg *config.Config, log *slog.Logger, stderr io.Writer, file *provider.File) int {
	g := gateway.New(log)
	if err := g.Apply(cfg); err != nil {
		printConfigError(stderr, err)
		return exitFailed
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchDone := make(chan struct{})
	if file != nil {
		go func() {
			defer close(watchDone)
			if err := file.Run(ctx, g.Apply); err != nil {
				log.Error("config watch stopped", "error", err)
			}
		}()
	} else {
		close(watchDone)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if file != nil {
				file.Reload()
			}
			continue
		}
		if sig == syscall.SIGUSR1 {
			// As nginx: USR1 reopens log files after rotation.
			if err := g.ReopenLogs(); err != nil {
				log.Error("reopening access log", "error", err)
			} else {
				log.Info("access log reopened")
			}
			continue
		}
		break
	}
	log.Info("shutting down: draining requests in flight (signal again to stop at once)")
	cancel()
	<-watchDone

	grace := longestShutdown(g)
	sctx, scancel := context.WithTimeout(context.Background(), grace)
	defer scancel()
	go func() {
		select {
		case <-sigs:
			scancel()
		case <-sctx.Done():
		}
	}()
	if err := g.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("shutdown cut short", "error", err)
	}
	log.Info("stopped")
	return exitOK
}

func longestShutdown(g *gateway.Gateway) time.Duration {
	longest := time.Duration(0)
	if s := g.Snapshot(); s != nil {
		for _, l := range s.Config.Listeners {
			longest = max(longest, l.Timeouts.Shutdown.D())
		}
	}
	if longest == 0 {
		longest = 30 * time.Second
	}
	return longest
}

func printConfigError(w io.Writer, err error) {
	var diags config.Diagnostics
	if errors.As(err, &diags) {
		for _, d := range diags {
			fmt.Fprintln(w, d.String())
		}
		fmt.Fprintf(w, "palisade: config has %d problem(s); nothing was started or changed\n", len(diags))
		return
	}
	fmt.Fprintln(w, "palisade:", err)
}
