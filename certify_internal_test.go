package abs

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/certify"
)

func TestCertificationError(t *testing.T) {
	d := certify.Gate(
		&certify.Report{Platforms: []certify.PlatformResults{{Platform: "linux/amd64", Results: []certify.Result{
			{Check: "HasLicense", Status: certify.Passed}, {Check: "RunAsNonRoot", Status: certify.Passed},
			{Check: "HasRequiredLabel", Status: certify.Failed}}}}},
		&certify.Report{Platforms: []certify.PlatformResults{{Platform: "linux/amd64", Results: []certify.Result{
			{Check: "HasLicense", Status: certify.Failed, Reason: "no /licenses"}, {Check: "RunAsNonRoot", Status: certify.Error, Reason: "bad config"},
			{Check: "HasRequiredLabel", Status: certify.Failed}}}}})
	ce := &CertificationError{Blocks: d.Blocks, err: d.Err()}
	assert.ErrorIs(t, permanent("verify", ce), certify.ErrBlocked)
	assert.Equal(t, []string{"HasLicense", "RunAsNonRoot"}, ce.Checks())
	assert.Equal(t, "certification checks HasLicense, RunAsNonRoot block publication: "+
		"HasLicense on linux/amd64: passed before, failed now: no /licenses; RunAsNonRoot on linux/amd64: passed before, error now: bad config", ce.Error())
	var target *CertificationError
	assert.True(t, errors.As(permanent("verify", ce), &target))
}
