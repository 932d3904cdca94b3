package rebuild

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRuntimeStartFailed(t *testing.T) {
	tests := []struct {
		log  string
		want bool
	}{
		{"STEP 2/2: RUN echo hi > /hi\nClose_Fd sealing memfd copy: Device or resource busy\nError: building at STEP \"RUN echo hi > /hi\": exit status 1\n", true},
		{"STEP 2/2: RUN false\nError: building at STEP \"RUN false\": exit status 1\n", false},
		{"Error: COPY not-in-the-repo.txt: no such file or directory\n", false},
		{"", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, runtimeStartFailed([]byte(tt.log)), tt.log)
	}
}
