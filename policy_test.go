package abs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/rpmscan"
)

// TestRebuildThatDoesNotFixIsNotPublished: the updated base does not carry
// the fix, so the rebuild would not fix what it should. Nothing is
// published and the owner is told why.
func TestRebuildThatDoesNotFixIsNotPublished(t *testing.T) {
	future := demo.Advisory{ID: "RHSA-2099:9100", Severity: "Critical", Title: "glibc update not in any base yet",
		CVE: "CVE-2099-9100", Age: 3 * 24 * time.Hour, Packages: []demo.Package{{Name: "glibc", Version: "2.34", Release: "200.el9_4", Arch: "x86_64"}}}
	e := newEnv(t, future)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o := e.start(e.sqlite("abs.db"))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 2)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildFailed, r.State, r.Image)
		assert.Contains(t, r.Detail, "verify: rebuild does not fix RHSA-2099:9100")
		assert.Empty(t, r.NewDigest)
	}
	for _, s := range rep.Summary().Images {
		assert.False(t, s.Published)
		assert.Equal(t, s.OldDigest, s.NewDigest)
	}
	assert.Empty(t, e.tagPushes(), "nothing is published")
	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1)
	assert.Contains(t, string(msgs[0].Data), "RHSA-2099:9100")

	// The same advisory never rebuilds the same image twice.
	again, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	for _, st := range again.Plan {
		assert.True(t, st.Duplicate, st.Image)
	}
	assert.Empty(t, again.Rebuilds)
	assert.Len(t, e.smtp.Messages(), 1)
}

// TestGradeDropWarning: an Important advisory 88 days old grades C and
// drops to D in two days; with auto-rebuild off the owner is warned once,
// before the drop.
func TestGradeDropWarning(t *testing.T) {
	old := demo.OpenSSL
	old.Age = 88 * 24 * time.Hour
	e := newEnv(t, old)
	for i := range e.projects[0].Images {
		e.projects[0].Images[i].AutoRebuild = false
	}
	o := e.start(e.sqlite("abs.db"))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, rep.Plan, "auto-rebuild is off")
	require.Len(t, rep.Warnings, 2)
	for _, w := range rep.Warnings {
		assert.Equal(t, healthindex.GradeC, w.From)
		assert.Equal(t, healthindex.GradeD, w.To)
		assert.Equal(t, old.ID, w.Advisory)
		assert.WithinDuration(t, e.now.Add(2*24*time.Hour), w.At, 24*time.Hour)
	}
	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1, "one message for both images")
	assert.True(t, strings.Contains(string(msgs[0].Data), "D"), "the message says what the grade drops to")

	again, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, again.Warnings, "a drop is announced once")
	assert.Len(t, e.smtp.Messages(), 1)
}

// TestMailServerFailuresAreRetried: the SMTP server refuses the first two
// messages; the notification is retried and delivered once.
func TestMailServerFailuresAreRetried(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	e.smtp = smtptest.Start(t, smtptest.WithTLS(smtptest.NoTLS), smtptest.WithFailures(2))
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o := e.start(e.sqlite("abs.db"))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Notifications, 1)
	assert.Equal(t, abs.NotificationSent, rep.Notifications[0].State)
	assert.Equal(t, 2, rep.Notifications[0].Events)
	assert.Len(t, e.smtp.Messages(), 1)
}

// rescanScanner passes the cycle's first scans through and lets a test
// change (or fail) the rescans of rebuilt images.
type rescanScanner struct {
	n      atomic.Int32
	first  int32
	rescan func(*rpmscan.Inventory) (*rpmscan.Inventory, error)
}

func (s *rescanScanner) Scan(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error) {
	inv, err := rpmscan.New().Scan(ctx, img)
	if s.n.Add(1) <= s.first || err != nil {
		return inv, err
	}
	return s.rescan(inv)
}

// TestVerifyRefusesToPublish: a rebuild is published only when its rescan
// works, it fixes what it was rebuilt for, its grade is no worse and it
// carries no unapplied advisory the old image did not.
func TestVerifyRefusesToPublish(t *testing.T) {
	// Advisories for a package only the rebuilt image carries.
	extra := func(sev string) demo.Advisory {
		return demo.Advisory{ID: "RHSA-2099:9300", Severity: sev, Title: "zlib-demo update", CVE: "CVE-2099-9300",
			Age: 200 * 24 * time.Hour, Packages: []demo.Package{{Name: "zlib-demo", Version: "1.3", Release: "2.el9", Arch: "x86_64"}}}
	}
	addPackage := func(inv *rpmscan.Inventory) (*rpmscan.Inventory, error) {
		p := inv.Packages[0]
		p.Name, p.Epoch, p.Version, p.Release, p.Arch = "zlib-demo", 0, "1.3", "1.el9", "x86_64"
		inv.Packages = append(inv.Packages, p)
		return inv, nil
	}
	for _, tc := range []struct {
		name   string
		advs   []demo.Advisory
		rescan func(*rpmscan.Inventory) (*rpmscan.Inventory, error)
		detail string
	}{
		{"rescan fails", nil, func(*rpmscan.Inventory) (*rpmscan.Inventory, error) { return nil, errors.New("scanner broke") },
			"verify: rescan: scanner broke"},
		{"rescan finds no packages", nil, func(inv *rpmscan.Inventory) (*rpmscan.Inventory, error) {
			return &rpmscan.Inventory{Image: inv.Image}, nil // as for an image without an rpmdb
		}, "verify: rescan finds no RPM packages where the old image had"},
		{"grade worse", []demo.Advisory{extra("Critical")}, addPackage, "verify: rebuild would lower the grade from C to E"},
		{"new unapplied advisory", []demo.Advisory{extra("Low")}, addPackage,
			"verify: rebuild carries unapplied advisories the old image did not: RHSA-2099:9300"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, append([]demo.Advisory{demo.OpenSSL}, tc.advs...)...)
			require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
			o := e.start(e.sqlite("abs.db"), abs.WithScanner(&rescanScanner{first: 2, rescan: tc.rescan}))
			rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
			require.NoError(t, err)
			require.Len(t, rep.Rebuilds, 2)
			for _, r := range rep.Rebuilds {
				assert.Equal(t, abs.RebuildFailed, r.State, r.Image)
				assert.True(t, strings.HasPrefix(r.Detail, tc.detail), "%s: %s", r.Image, r.Detail)
			}
			for _, s := range rep.Summary().Images {
				assert.False(t, s.Published, s.Name)
			}
			assert.Empty(t, e.tagPushes(), "nothing is published")
		})
	}
}
