package partnerapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
	"github.com/openabs/abs/secret"
)

func ExampleAnd() {
	f := partnerapi.And(
		partnerapi.Eq("repositories.tags.name", "1.0"),
		partnerapi.Or(partnerapi.Eq("architecture", "amd64"), partnerapi.Eq("architecture", "arm64")),
		partnerapi.In("freshness_grades.grade", "A", "B"),
	)
	fmt.Println(f)
	// Output: repositories.tags.name==1.0;(architecture==amd64,architecture==arm64);freshness_grades.grade=in=(A,B)
}

func ExampleEq() {
	// Values are quoted when they hold RSQL operators, so user input cannot
	// change the expression.
	fmt.Println(partnerapi.Eq("name", `widget";name!=x`))
	fmt.Println(partnerapi.Eq("name", ""))
	fmt.Println(partnerapi.Eq("bad field", "x").Err())
	// Output:
	// name=="widget\";name!=x"
	// name==""
	// partnerapi: invalid filter: field "bad field" holds ' '
}

func ExampleAPIKey() {
	key := secret.New("0123-secret")
	fmt.Println(key)
	fmt.Printf("%q %#v\n", key, key)
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED]
}

func ExampleImage_GradeAt() {
	end := partnerapi.Time{Time: time.Date(2025, 4, 10, 0, 0, 0, 0, time.UTC)}
	img := partnerapi.Image{FreshnessGrades: []partnerapi.FreshnessGrade{
		{Grade: "A", StartDate: partnerapi.Time{Time: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}, EndDate: &end},
		{Grade: "C", StartDate: end},
	}}
	fmt.Println(img.GradeAt(time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)))
	fmt.Println(img.GradeAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	// Output:
	// A
	// C
}

// newExampleServer serves a fake catalog with one project and three images.
func newExampleServer() (*httptest.Server, *partnerapitest.Fake, string, []string) {
	fake := partnerapitest.New()
	p, _ := fake.AddProject(partnerapi.Project{Name: "widget",
		Container: partnerapi.ProjectContainer{AutoPublish: true, AutoRebuild: true}})
	var ids []string
	for i, tag := range []string{"1.0", "1.1", "2.0"} {
		img, _ := fake.AddImage(partnerapi.Image{
			CertProject:       p.ID,
			Architecture:      "amd64",
			DockerImageDigest: fmt.Sprintf("sha256:%064d", i),
			Repositories: []partnerapi.ImageRepository{{Registry: "registry.connect.redhat.com",
				Repository: "acme/widget", Tags: []partnerapi.Tag{{Name: tag}}}},
		})
		ids = append(ids, img.ID)
	}
	return httptest.NewServer(fake), fake, p.ID, ids
}

func ExampleClient_ProjectImages() {
	ts, fake, projectID, _ := newExampleServer()
	defer ts.Close()
	c, err := partnerapi.New(secret.New(fake.APIKey()),
		partnerapi.WithBaseURL(ts.URL+partnerapitest.BasePath))
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := &partnerapi.ListOptions{
		Filter:   partnerapi.In("repositories.tags.name", "1.0", "2.0"),
		PageSize: 1, // one image per request; pages are fetched as the loop goes
	}
	for img, err := range c.ProjectImages(context.Background(), projectID, opts) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(img.DockerImageDigest[:12], img.Repositories[0].Tags[0].Name)
	}
	// Output:
	// sha256:00000 1.0
	// sha256:00000 2.0
}

func ExampleClient_WaitImageRequest() {
	ts, fake, projectID, ids := newExampleServer()
	defer ts.Close()
	c, _ := partnerapi.New(secret.New(fake.APIKey()),
		partnerapi.WithBaseURL(ts.URL+partnerapitest.BasePath),
		partnerapi.WithPollInterval(time.Millisecond, 10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	req, err := c.CreateImageRequest(ctx, projectID, partnerapi.ImageRequest{
		ImageID: ids[0], Operation: partnerapi.OperationPublish})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Status)
	_, err = c.CreateImageRequest(ctx, projectID, partnerapi.ImageRequest{
		ImageID: ids[0], Operation: partnerapi.OperationPublish})
	fmt.Println(errors.Is(err, partnerapi.ErrConflict))
	req, err = c.WaitImageRequest(ctx, req.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Status)
	// Output:
	// pending
	// true
	// completed
}

func ExampleClient_Project_notFound() {
	ts, fake, _, _ := newExampleServer()
	defer ts.Close()
	c, _ := partnerapi.New(secret.New(fake.APIKey()), partnerapi.WithBaseURL(ts.URL+partnerapitest.BasePath))
	_, err := c.Project(context.Background(), "0000")
	var apiErr *partnerapi.Error
	if errors.As(err, &apiErr) {
		fmt.Println(errors.Is(err, partnerapi.ErrNotFound), apiErr.Status, apiErr.Title)
	}
	// Output: true 404 Not Found
}

func ExampleRawFilter() {
	f := partnerapi.And(partnerapi.RawFilter("architecture==amd64,architecture==arm64"), partnerapi.Eq("certified", "true"))
	fmt.Println(f)
	// Output: (architecture==amd64,architecture==arm64);certified==true
}
