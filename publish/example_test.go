package publish_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/openabs/abs/publish"
)

func ExampleVersionTag() {
	tag, _ := publish.VersionTag("1.2.3", "5")
	fmt.Println(tag)
	// Output: 1.2.3-5
}

func ExampleRegistry_Publish() {
	// A registry on loopback; real ones need no WithPlainHTTP.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/team/app"

	p := publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())
	ctx := context.Background()
	show := func(res *publish.Result, err error) {
		for _, tc := range res.Tags {
			fmt.Printf("%s:%s ", tc.Tag, tc.Action)
		}
		fmt.Println(errors.Is(err, publish.ErrImmutableTag))
	}

	first, _ := random.Image(1024, 1, random.WithSource(rand.NewSource(1)))
	second, _ := random.Image(1024, 1, random.WithSource(rand.NewSource(2)))
	show(p.Publish(ctx, publish.Request{Repository: repo, Image: first, VersionTag: "1.0-1", FloatingTags: []string{"latest"}}))
	show(p.Publish(ctx, publish.Request{Repository: repo, Image: first, VersionTag: "1.0-1", FloatingTags: []string{"latest"}}))
	show(p.Publish(ctx, publish.Request{Repository: repo, Image: second, VersionTag: "1.0-2", FloatingTags: []string{"latest"}, DryRun: true}))
	show(p.Publish(ctx, publish.Request{Repository: repo, Image: second, VersionTag: "1.0-1", FloatingTags: []string{"latest"}}))
	// Output:
	// 1.0-1:created latest:created false
	// 1.0-1:unchanged latest:unchanged false
	// 1.0-2:created latest:moved false
	// 1.0-1:refused latest:skipped true
}
