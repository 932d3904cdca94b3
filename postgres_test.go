package abs_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/store/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(killEnv) != "" {
		os.Exit(killHelper())
	}
	code := m.Run()
	for _, f := range bigCleanup {
		f()
	}
	storetest.Stop()
	os.Exit(code)
}

// TestTwoInstancesOnPostgres runs two orchestrators on one real
// PostgreSQL database and starts a cycle on each at the same time: every
// rebuild happens exactly once, every tag is pushed once, one email.
func TestTwoInstancesOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	var orch []*abs.Orchestrator
	for range 2 {
		db, err := abs.OpenPostgres(t.Context(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		orch = append(orch, e.start(db))
	}
	var wg sync.WaitGroup
	ids := make([]string, 2)
	for i, o := range orch {
		wg.Go(func() {
			id, err := o.StartCycle(context.Background(), abs.CycleOptions{})
			assert.NoError(t, err)
			ids[i] = id
		})
	}
	wg.Wait()
	var rebuilds []abs.RebuildReport
	for i, id := range ids {
		rep := wait(t, orch[1-i], id) // each waits for the other's cycle
		rebuilds = append(rebuilds, rep.Rebuilds...)
	}
	require.Len(t, rebuilds, 2, "two images, each rebuilt once across both cycles")
	for _, r := range rebuilds {
		assert.Equal(t, abs.RebuildPublished, r.State, r.Image)
		assert.Equal(t, []abs.RebuildState{abs.RebuildPlanned, abs.RebuildBuilding, abs.RebuildBuilt, abs.RebuildPublished}, r.History, r.Image)
	}
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1, "api:1.0-2": 1, "api:latest": 1}, e.tagPushes())
	assert.Len(t, e.smtp.Messages(), 1)
}
