package config

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startPush serves a handler that reads the whole body, as the push
// handler does, with the given limits on a loopback port.
func startPush(t *testing.T, lim pushLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				http.Error(w, "cannot read body", http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, "ok")
		}), lim)
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return ln.Addr().String()
}

// closedWithin reports whether the server closes conn (EOF or reset)
// within d; reading first drains any response.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(d)))
	_, err := io.Copy(io.Discard, conn)
	if err == nil {
		return true // EOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // reset by the server
}

var testLimits = pushLimits{readHeader: 300 * time.Millisecond, read: 500 * time.Millisecond, write: time.Second,
	idle: 300 * time.Millisecond, headerBytes: 4 << 10, conns: 2}

func TestPushServerClosesIdleKeepAlive(t *testing.T) {
	addr := startPush(t, testLimits)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, closedWithin(t, conn, 5*time.Second), "an idle keep-alive connection is closed")
}

func TestPushServerClosesUnfinishedBody(t *testing.T) {
	addr := startPush(t, testLimits)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	// The body announces 1000 bytes and sends 10.
	_, err = io.WriteString(conn, "POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	require.NoError(t, err)
	assert.True(t, closedWithin(t, conn, 5*time.Second), "a body never finished does not hold the connection")
}

func TestPushServerClosesSlowHeaders(t *testing.T) {
	addr := startPush(t, testLimits)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /push HTTP/1.1\r\nHost: x\r\n")
	require.NoError(t, err)
	assert.True(t, closedWithin(t, conn, 5*time.Second))
}

func TestPushServerHeaderLimit(t *testing.T) {
	addr := startPush(t, testLimits)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/push", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

func TestPushServerConnectionLimit(t *testing.T) {
	lim := testLimits
	lim.readHeader, lim.read, lim.idle = 10*time.Second, 10*time.Second, 10*time.Second
	addr := startPush(t, lim)
	// Two connections that send nothing take both slots.
	var held []net.Conn
	for range lim.conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond)  // let the server accept them
	third, err := net.Dial("tcp", addr) // the kernel accepts; the server does not
	require.NoError(t, err)
	defer third.Close()
	_, err = io.WriteString(third, "POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	require.NoError(t, err)
	require.NoError(t, third.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
	_, err = bufio.NewReader(third).ReadByte()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a connection beyond the limit is not served")
	// A slot frees: the waiting connection is served.
	require.NoError(t, held[0].Close())
	require.NoError(t, third.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
