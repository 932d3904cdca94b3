package buildkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

func TestProgressLog(t *testing.T) {
	vals := secretValues(map[string]rebuild.Secret{"t": secret.New("hunter22-secret")}, nil)
	p := newProgress(func(s string) string { return scrub(s, vals) })
	a, b := digest.FromString("a"), digest.FromString("b")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(1500 * time.Millisecond)
	p.add(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: a, Name: "[1/2] FROM base"}, {Digest: b, Name: "[2/2] RUN x"}}})
	p.add(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: a, Name: "[1/2] FROM base", Cached: true, Started: &t0, Completed: &t0}}})
	p.add(&client.SolveStatus{Logs: []*client.VertexLog{{Vertex: b, Data: []byte("token hunter2")}, {Vertex: b, Data: []byte("2-secret ok\nnext")}}})
	p.add(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: b, Name: "[2/2] RUN x", Started: &t0, Completed: &t1, Error: "exit code: 3"}}})
	log, steps, cached := p.result()
	assert.Equal(t, "#1 [1/2] FROM base\n#2 [2/2] RUN x\n#1 CACHED\n#1 DONE 0.0s\n#2 token "+secret.Placeholder+" ok\n#2 ERROR: exit code: 3\n#2 next\n", string(log))
	assert.Equal(t, 2, steps)
	assert.Equal(t, 1, cached)
}

func TestConnectionError(t *testing.T) {
	for msg, want := range map[string]bool{
		"rpc error: code = Unavailable desc = error reading from server: EOF":                                         true,
		"connection error: desc = \"transport: Error while dialing: dial unix /x.sock: connect: connection refused\"": true,
		"process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3":                                   false,
		"failed to solve: base/busybox:missing: not found":                                                            false,
	} {
		assert.Equal(t, want, connectionError(errorString(msg)), msg)
	}
	assert.False(t, connectionError(nil))
	assert.True(t, connectionError(status.Error(codes.Unavailable, "error reading from server: EOF")))
	assert.False(t, connectionError(status.Error(codes.Unknown, "failed to resolve source metadata: dial tcp 10.0.0.1:443: connect: connection refused")),
		"a registry the daemon cannot reach is the build's failure")
	assert.True(t, connectionError(fmt.Errorf("buildkit: x: %w: %w", errDaemonLost, context.DeadlineExceeded)))
}

type errorString string

func (e errorString) Error() string { return string(e) }

// FuzzProgressScrub feeds a secret split over log chunks at any point and
// checks that it never reaches the log.
func FuzzProgressScrub(f *testing.F) {
	f.Add("before ", " after\n", 3, 200)
	f.Add("", "\n", 0, 1)
	f.Add("x\ny", "z", 9, 5000)
	const value = "Zq9-secret-VALUE-77"
	vals := secretValues(map[string]rebuild.Secret{"t": secret.New(value)}, nil)
	f.Fuzz(func(t *testing.T, pre, post string, cut, repeat int) {
		if repeat < 0 || repeat > 3*rebuild.MaxLog/len(value) {
			t.Skip()
		}
		cut = max(0, min(cut, len(value)))
		p := newProgress(func(s string) string { return scrub(s, vals) })
		d := digest.FromString("v")
		p.add(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: "RUN"}}})
		chunk := strings.Repeat(pre+value[:cut], 1)
		for range repeat {
			p.add(&client.SolveStatus{Logs: []*client.VertexLog{{Vertex: d, Data: []byte(chunk)}, {Vertex: d, Data: []byte(value[cut:] + post)}}})
		}
		log, _, _ := p.result()
		require.NotContains(t, string(log), value)
		require.LessOrEqual(t, len(log), rebuild.MaxLog)
	})
}
