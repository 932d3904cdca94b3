package abs

import (
	"errors"
	"testing"
)

// FuzzPrepareImage feeds outside input (what a portal sends) to the image
// validation: it never panics, refuses with ErrConfig only, and what it
// accepts it accepts again unchanged.
func FuzzPrepareImage(f *testing.F) {
	f.Add("registry.example.com/acme/widget", "latest", "1.0", "ssh://git@git.example/a.git", "main", "build/Containerfile",
		"[git.example]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "VERSION")
	f.Add("x", "", "bad tag", "https://u:p@h/x", "a..b", "../x", "garbage", "1x")
	f.Add("127.0.0.1:5000/app", "v1", "", "git@github.com:acme/app.git", "", "", "", "")
	o := &Orchestrator{}
	f.Fuzz(func(t *testing.T, repo, tag, extraTag, url, branch, file, known, arg string) {
		img := Image{Repository: repo, Tag: tag, Tags: []string{extraTag}, BuildArgs: map[string]string{arg: "v"},
			SourceSpec: &SourceSpec{URL: url, Branch: branch, Containerfile: file, KnownHosts: known}}
		got, _, err := o.prepareImage(img)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("not an ErrConfig: %v", err)
			}
			return
		}
		again, _, err := o.prepareImage(got)
		if err != nil {
			t.Fatalf("accepted once, refused the second time: %v", err)
		}
		if again.Name != got.Name || again.Tag != got.Tag {
			t.Fatalf("not stable: %+v then %+v", got, again)
		}
	})
}
