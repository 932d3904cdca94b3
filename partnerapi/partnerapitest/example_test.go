package partnerapitest_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
	"github.com/openabs/abs/secret"
)

// Tests usually call partnerapitest.Start(t), which does the same and
// closes the server when the test ends.
func ExampleNew() {
	fake := partnerapitest.New(partnerapitest.WithAPIKey("test-key"))
	p, _ := fake.AddProject(partnerapi.Project{Name: "widget"})
	img, _ := fake.AddImage(partnerapi.Image{CertProject: p.ID, Architecture: "amd64"})
	ts := httptest.NewServer(fake)
	defer ts.Close()

	c, _ := partnerapi.New(secret.New("test-key"), partnerapi.WithBaseURL(ts.URL+partnerapitest.BasePath))
	got, err := c.Image(context.Background(), img.ID)
	fmt.Println(got.Architecture, got.CertProject == p.ID, err)
	// Output: amd64 true <nil>
}
