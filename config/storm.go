package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/rebuild"
)

// Storm is the storm section: how a widely shipped advisory's rebuilds
// are shaped (abs.Storm).
type Storm struct {
	// BatchWindow folds advisories released within it into one rebuild
	// per image (default abs.DefaultBatchWindow; "0" turns batching off).
	BatchWindow string `yaml:"batch_window"`
	// MaxHold bounds the wait for a quiet batch window (default 4× the
	// window).
	MaxHold string `yaml:"max_hold"`
	// Soak waits this long after an advisory before rebuilding for it;
	// Critical advisories never soak (default 0).
	Soak string `yaml:"soak"`
	// Budgets bound concurrent builds across every replica.
	Budgets struct {
		Global      int            `yaml:"global"`
		PerProject  int            `yaml:"per_project"`
		PerRegistry int            `yaml:"per_registry"`
		Projects    map[string]int `yaml:"projects"`
		Registries  map[string]int `yaml:"registries"`
	} `yaml:"budgets"`
	// Freeze are windows without publishes (or, with builds: true,
	// without builds either).
	Freeze []Freeze `yaml:"freeze"`
}

// Freeze is one weekly freeze window: days: [sat, sun], from: "18:00",
// to: "06:00" (a to not after from ends the next day; both left out: the
// whole day), time_zone: Europe/Paris (default UTC).
type Freeze struct {
	Days     []string `yaml:"days"`
	From     string   `yaml:"from"`
	To       string   `yaml:"to"`
	TimeZone string   `yaml:"time_zone"`
	Builds   bool     `yaml:"builds"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// timeOfDay parses "HH:MM" (00:00 to 24:00).
func timeOfDay(s string) (time.Duration, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, false
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, true
}

// storm returns the abs.Storm of the storm section (the zero Storm when
// there is none).
func (f *File) storm() (abs.Storm, error) {
	s := f.Storm
	if s == nil {
		return abs.Storm{}, nil
	}
	var out abs.Storm
	var err error
	if out.BatchWindow, err = f.duration("storm.batch_window", s.BatchWindow, abs.DefaultBatchWindow); err != nil {
		return out, err
	}
	if out.MaxHold, err = f.duration("storm.max_hold", s.MaxHold, 0); err != nil {
		return out, err
	}
	if out.Soak, err = f.duration("storm.soak", s.Soak, 0); err != nil {
		return out, err
	}
	b := s.Budgets
	if b.Global < 0 || b.PerProject < 0 || b.PerRegistry < 0 {
		return out, f.errorf("storm.budgets", "must not be negative")
	}
	for k, v := range b.Projects {
		if v < 0 {
			return out, f.errorf("storm.budgets.projects."+k, "must not be negative")
		}
	}
	for k, v := range b.Registries {
		if v < 0 {
			return out, f.errorf("storm.budgets.registries."+k, "must not be negative")
		}
	}
	out.Budgets = abs.Budgets{Global: b.Global, PerProject: b.PerProject, PerRegistry: b.PerRegistry, Projects: b.Projects, Registries: b.Registries}
	for i, fz := range s.Freeze {
		key := fmt.Sprintf("storm.freeze[%d]", i)
		w := abs.FreezeWindow{Builds: fz.Builds, Location: time.UTC}
		for _, d := range fz.Days {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok && len(d) > 3 {
				wd, ok = weekdays[strings.ToLower(d[:3])]
			}
			if !ok {
				return out, f.errorf(key+".days", "unknown day %q (want mon … sun)", d)
			}
			w.Days = append(w.Days, wd)
		}
		if (fz.From == "") != (fz.To == "") {
			return out, f.errorf(key, "from and to go together")
		}
		if fz.From != "" {
			var ok1, ok2 bool
			w.From, ok1 = timeOfDay(fz.From)
			w.To, ok2 = timeOfDay(fz.To)
			if !ok1 || !ok2 {
				return out, f.errorf(key, "from and to are times of day, HH:MM")
			}
		}
		if fz.TimeZone != "" {
			loc, err := time.LoadLocation(fz.TimeZone)
			if err != nil {
				return out, f.errorf(key+".time_zone", "unknown time zone %q", fz.TimeZone)
			}
			w.Location = loc
		}
		out.Freeze = append(out.Freeze, w)
	}
	return out, nil
}

// BuildKitDaemon is one buildkitd of builder.daemons.
type BuildKitDaemon struct {
	// Address is "unix:///run/buildkit/buildkitd.sock" or
	// "tcp://host:port".
	Address string `yaml:"address"`
	// CACert, Cert and Key are PEM files for mutual TLS (tcp only).
	CACert     string `yaml:"ca_cert"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
	// MaxBuilds overrides builder.max_per_daemon for this daemon.
	MaxBuilds int `yaml:"max_builds"`
}

// BuildKit is what a program linking package buildkit needs to make the
// builder of "builder: {kind: buildkit}" (File.NewBuildKit).
type BuildKit struct {
	// Daemons are builder.daemons, with max_per_daemon applied.
	Daemons []BuildKitDaemon
	// Cache is builder.cache, a registry repository for layer caches.
	Cache string
	// Credentials and InsecureHosts come from registries[].
	Credentials   map[string]rebuild.Credential
	InsecureHosts []string
	// Options are the go-containerregistry options of registries[].
	Options []remote.Option
	Logger  *slog.Logger
}

func (f *File) checkBuildKit() error {
	if f.Builder.Kind != "buildkit" {
		if len(f.Builder.Daemons) > 0 {
			return f.errorf("builder.daemons", "only for kind buildkit")
		}
		return nil
	}
	if len(f.Builder.Daemons) == 0 {
		return f.errorf("builder.daemons", "kind buildkit needs at least one daemon")
	}
	if f.Builder.MaxPerDaemon < 0 {
		return f.errorf("builder.max_per_daemon", "must not be negative")
	}
	for i, d := range f.Builder.Daemons {
		key := fmt.Sprintf("builder.daemons[%d]", i)
		if !strings.HasPrefix(d.Address, "unix://") && !strings.HasPrefix(d.Address, "tcp://") {
			return f.errorf(key+".address", "want unix:///path or tcp://host:port")
		}
		tls := d.CACert != "" || d.Cert != "" || d.Key != ""
		if tls && (d.CACert == "" || d.Cert == "" || d.Key == "") {
			return f.errorf(key, "mutual TLS needs ca_cert, cert and key")
		}
		if tls && !strings.HasPrefix(d.Address, "tcp://") {
			return f.errorf(key, "TLS files are for tcp addresses")
		}
		if d.MaxBuilds < 0 {
			return f.errorf(key+".max_builds", "must not be negative")
		}
	}
	return nil
}

// buildKit returns what NewBuildKit gets.
func (f *File) buildKit(creds map[string]rebuild.Credential, insecure []string, ropts []remote.Option, logger *slog.Logger) BuildKit {
	bk := BuildKit{Cache: f.Builder.Cache, Credentials: creds, InsecureHosts: insecure, Options: ropts, Logger: logger}
	for _, d := range f.Builder.Daemons {
		if d.MaxBuilds == 0 {
			d.MaxBuilds = f.Builder.MaxPerDaemon
		}
		bk.Daemons = append(bk.Daemons, d)
	}
	return bk
}
