package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPutRefusesAMalformedStrict: strict= takes 0, 1, true or false; any
// other value is a 400 naming the parameter.
func TestPutRefusesAMalformedStrict(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/v1/put?strict=yes", strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "strict") {
		t.Fatalf("put with strict=yes: %d %s, want 400 naming strict", resp.StatusCode, body)
	}
}
