// Package storetest gives tests a database for the orchestrator's store:
// a SQLite file in a temp dir, or a real PostgreSQL — the one named by
// ABS_TEST_POSTGRES_DSN, else a private server started from the local
// PostgreSQL installation (initdb/pg_ctl, run as user postgres when the
// test runs as root). Tests skip cleanly when no PostgreSQL is available.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding a PostgreSQL connection
// string for tests; each test gets a fresh database created through it.
const EnvDSN = "ABS_TEST_POSTGRES_DSN"

var (
	serverOnce sync.Once
	serverDSN  string
	serverErr  error
)

func findBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts one private server per test binary; it is stopped
// by the OS when the binary exits via Stop or left for pg_ctl's own
// shutdown on process exit (the data dir lives under os.TempDir).
func startServer() (string, error) {
	initdb, pgctl := findBin("initdb"), findBin("pg_ctl")
	if initdb == "" || pgctl == "" {
		return "", fmt.Errorf("initdb/pg_ctl not found (install postgresql or set %s)", EnvDSN)
	}
	dir, err := os.MkdirTemp("", "abs-pg-")
	if err != nil {
		return "", err
	}
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
		_ = os.Chmod(dir, 0o700)
		runuser := findBin("runuser")
		if runuser == "" {
			return "", fmt.Errorf("runuser not found")
		}
		run = func(args ...string) *exec.Cmd {
			return exec.Command(runuser, append([]string{"-u", "postgres", "--"}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run(initdb, "-D", data, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", port, dir)
	if out, err := run(pgctl, "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		return "", fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	stopCmd = run(pgctl, "-D", data, "-m", "immediate", "stop")
	stopDir = dir
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), nil
}

var (
	stopCmd *exec.Cmd
	stopDir string
)

// Stop stops the private server, if one was started. Call it from
// TestMain after m.Run.
func Stop() {
	if stopCmd != nil {
		_ = stopCmd.Run()
		_ = os.RemoveAll(stopDir)
	}
}

// PostgresDSN returns a connection string to a fresh, empty database, or
// skips the test when no PostgreSQL can be had.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		serverOnce.Do(func() { serverDSN, serverErr = startServer() })
		if serverErr != nil {
			t.Skipf("no PostgreSQL for this test: %v", serverErr)
		}
		base = serverDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "abs_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDSN, err)
	}
	return replaceDB(base, cfg.Database, name)
}

// replaceDB swaps the database name in a URL- or keyword-style DSN.
func replaceDB(dsn, old, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		q := ""
		if i := strings.IndexByte(dsn, '?'); i >= 0 {
			dsn, q = dsn[:i], dsn[i:]
		}
		if i := strings.LastIndexByte(dsn, '/'); i > strings.Index(dsn, "://")+2 {
			return dsn[:i+1] + name + q
		}
		return dsn + "/" + name + q
	}
	if old != "" && strings.Contains(dsn, "dbname="+old) {
		return strings.Replace(dsn, "dbname="+old, "dbname="+name, 1)
	}
	return dsn + " dbname=" + name
}
